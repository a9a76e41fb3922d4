"""Route budgets: an in-memory spend ledger persisted to SQLite off the request path."""

from .ledger import NO_BUDGET, BudgetDecision, BudgetLedger, budget_key
from .periods import PERIODS, iso_utc, period_bounds

__all__ = ["BudgetDecision", "BudgetLedger", "NO_BUDGET", "PERIODS", "budget_key", "iso_utc", "period_bounds"]
