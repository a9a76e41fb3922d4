"""The dispatcher's working notes for one request, frozen into an `Outcome` at the end.

Only the dispatcher (and a cascade running its steps) writes here, while it executes; what
leaves the dispatcher is the immutable Outcome that `outcome()` builds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..router.plan import Candidate
from .outcome import Outcome
from .values import AttemptRecord, DispatchError, UnaryAnswer
from .stream import LiveStream


class Answered(NamedTuple):
    """A candidate that answered: a whole answer, or a stream whose first content is in."""

    candidate: Candidate
    answer: UnaryAnswer | None = None
    stream: LiveStream | None = None


class AttemptLog:
    __slots__ = ("attempts", "skipped", "dropped", "queue_wait", "slept", "panic", "escalations", "extra_cost",
                 "upstream_ms")

    def __init__(self) -> None:
        self.attempts: list[AttemptRecord] = []
        self.skipped: list[dict[str, Any]] = []
        self.dropped: list[str] = []
        self.queue_wait = 0.0
        self.slept = 0.0
        self.panic = False
        self.escalations: list[str] = []
        self.extra_cost = 0.0
        self.upstream_ms = 0.0

    @property
    def count(self) -> int:
        return len(self.attempts)

    def add(self, record: AttemptRecord) -> None:
        self.attempts.append(record)
        self.upstream_ms += record.latency_ms

    def mark_last(self, check: str) -> None:
        """A cascade step's verdict on the answer of the last attempt."""
        self.attempts[-1] = self.attempts[-1]._replace(check=check)

    def skip(self, cand: Candidate, why: str, retry_at: float | None = None) -> None:
        entry: dict[str, Any] = {"slug": cand.slug, "deployment": cand.deployment.id, "why": why}
        if retry_at is not None:
            entry["retry_at"] = retry_at
        self.skipped.append(entry)

    def forget_skips(self) -> None:
        """After waiting for a reset, what was skipped is worth trying again."""
        self.skipped.clear()

    def drop_params(self, names: list[str]) -> None:
        self.dropped.extend(p for p in names if p not in self.dropped)

    def absorb(self, step: AttemptLog) -> None:
        """Adds one cascade step's notes (each step has its own max_attempts)."""
        self.attempts.extend(step.attempts)
        self.upstream_ms += step.upstream_ms
        self.skipped.extend(step.skipped)
        self.drop_params(step.dropped)
        self.queue_wait += step.queue_wait
        self.slept += step.slept
        self.panic = self.panic or step.panic

    # -- reading ----------------------------------------------------------------------------

    def skip_reasons(self) -> set[str]:
        return {s["why"] for s in self.skipped}

    def all_rate_limited(self) -> bool:
        """Every attempt met a rate limit (a 429, or an error that means one: error http_429)."""
        return bool(self.attempts) and all(a.error == "http_429" for a in self.attempts)

    def all_timed_out(self) -> bool:
        return all(a.error and a.error.endswith("timeout") for a in self.attempts)

    def only_rate_limited(self, waitable: frozenset[str]) -> bool:
        """Every attempt so far met a 429 and every skip was a rate limit: waiting can help."""
        return self.all_rate_limited() and all(s["why"] in waitable for s in self.skipped)

    def soonest_retry_at(self) -> float | None:
        times = [s["retry_at"] for s in self.skipped if s.get("retry_at")]
        return min(times) if times else None

    def summary(self) -> str:
        parts = [f"{a.provider} {a.model}: " + (f"HTTP {a.status}" if a.status else "no answer")
                 + (f" ({a.error}" + (f": {a.detail})" if a.detail else ")") if a.error else "")
                 for a in self.attempts]
        skipped = [f"{s['deployment']}: {s['why']}" for s in self.skipped]
        text = ("Attempts: " + "; ".join(parts) + ".") if parts else "No attempt was made."
        if skipped:
            text += " Skipped: " + "; ".join(skipped) + "."
        return text

    # -- the end ----------------------------------------------------------------------------

    def outcome(self, result: Answered | DispatchError, planned_first: str) -> Outcome:
        """The immutable outcome. `planned_first`: the slug the plan (or the cascade step that
        answered) put first; an answer from another model is a fallback."""
        if isinstance(result, DispatchError):
            cand, answer, stream, error, fallback = None, None, None, result, False
        else:
            cand, answer, stream, error = result.candidate, result.answer, result.stream, None
            fallback = cand.slug != planned_first
        return Outcome(cand, answer, stream, error, tuple(self.attempts), tuple(self.skipped), tuple(self.dropped),
                       self.queue_wait, self.slept, self.panic, tuple(self.escalations), self.extra_cost, fallback,
                       self.upstream_ms / 1000.0)
