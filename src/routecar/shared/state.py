"""Everything shared through Redis, built once per process from `shared_state`.

The runtime's one handle: `SharedState(cfg)`, then `await start()` at start-up (never waits
longer than the connect bound, and never fails: an absent Redis means unavailable, retried in
the background) and `await close()` at shutdown (queued writes get a bounded last chance).
The stages reach the parts: `budgets`, `limits`, `cache`; metrics and /state read `stats()`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..config.model import SharedStateConfig
from .availability import Backoff
from .admission import SharedAdmission
from .budgets import SharedBudgets
from .cache import SharedCache
from .limits import SharedLimits
from .store import SharedStore


class SharedState:
    def __init__(self, cfg: SharedStateConfig, *, clock: Callable[[], float] = time.monotonic,
                 backoff: Backoff | None = None, refresh_interval: float = 2.0) -> None:
        self.cfg = cfg
        self.store = SharedStore(cfg, clock=clock, backoff=backoff)
        self.budgets = SharedBudgets(self.store, clock=clock, refresh_interval=refresh_interval)
        self.limits = SharedLimits(self.store)
        self.cache = SharedCache(self.store)
        self.admission = SharedAdmission(self.budgets, self.limits)

    @property
    def available(self) -> bool:
        return self.store.available

    async def start(self) -> bool:
        """True when Redis answered; the background writers run either way."""
        up = await self.store.start()
        self.budgets.start()
        self.limits.start()
        self.cache.start()
        return up

    async def close(self, timeout: float = 1.0) -> None:
        """Send what is queued while Redis answers, within `timeout` per writer, then close."""
        await self.budgets.close(timeout)
        await self.limits.close(timeout)
        await self.cache.close(timeout)
        await self.store.close()

    def stats(self) -> dict[str, Any]:
        """Availability, call counts and queues, for /metrics and /state; never awaits and
        never holds a secret (the Redis URL is shown with its password masked)."""
        return {**self.store.stats(), **self.budgets.stats(), **self.limits.stats(),
                "cache": self.cache.stats()}
