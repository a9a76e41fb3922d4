"""What a classifier hands back: a label and how it was obtained."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# How a label was obtained, for the route log and `routecar explain`.
SOURCES = ("model", "cache", "timeout", "error", "default", "unprepared", "heuristic")


@dataclass(frozen=True, slots=True)
class ClassResult:
    # "" means no label at all (failure on a classifier without `default`): no rule matches it.
    label: str
    latency_ms: float
    cost_usd: float | None
    source: str
    score: float | None = None  # embedding classifiers: cosine to the nearest centroid

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "source": self.source,
                               "latency_ms": round(self.latency_ms, 3)}
        if self.cost_usd is not None:
            out["cost_usd"] = self.cost_usd
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out
