"""The mutable state of one fake provider: its settings, faults and traffic counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .errors import AnthropicHeaders
from .faults import FaultSet


class Stats:
    """Traffic counters that tests read to see which provider got which requests."""

    __slots__ = ("requests", "in_flight", "by_path", "by_status")

    def __init__(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.by_path: dict[str, int] = {}
        self.by_status: dict[int, int] = {}

    def begin(self, path: str) -> None:
        self.requests += 1
        self.in_flight += 1
        self.by_path[path] = self.by_path.get(path, 0) + 1

    def end(self, status: int | None) -> None:
        self.in_flight -= 1
        if status is not None:
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def reset(self) -> None:
        # In-flight requests keep running; only the history is wiped.
        self.requests = 0
        self.by_path = {}
        self.by_status = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "in_flight": self.in_flight,
        }


@dataclass(slots=True)
class FakeState:
    name: str
    chunks: int
    chunk_delay_ms: float
    latency_ms: float
    embedding_dim: int
    require_key: bool
    faults: FaultSet
    stats: Stats = field(default_factory=Stats)
    anthropic_headers: AnthropicHeaders = field(default_factory=AnthropicHeaders)
    models_seen: set[str] = field(default_factory=set)


STATE = web.AppKey("routecar_fake_state", FakeState)
