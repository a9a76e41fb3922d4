"""Per-deployment health, in memory (docs/failure-semantics.md): breakers, cooldowns, rate-limit
headroom, latency windows and the retry budget. No I/O, no awaits, injectable clocks."""

from .breaker import CircuitBreaker
from .clock import Clock, ManualClock
from .cooldown import Cooldown
from .headroom import ClientLimiter, ReportedHeadroom
from .ratelimit_headers import RateLimitInfo, parse_rate_limit
from .registry import HealthRegistry
from .retry_budget import RetryBudget
from .values import (
    ADMISSION_REASONS,
    RESULT_KINDS,
    Admission,
    AttemptResult,
    DeploymentView,
)
from .windows import LatencyWindow

__all__ = [
    "ADMISSION_REASONS",
    "RESULT_KINDS",
    "Admission",
    "AttemptResult",
    "CircuitBreaker",
    "ClientLimiter",
    "Clock",
    "Cooldown",
    "DeploymentView",
    "HealthRegistry",
    "LatencyWindow",
    "ManualClock",
    "RateLimitInfo",
    "ReportedHeadroom",
    "RetryBudget",
    "parse_rate_limit",
]
