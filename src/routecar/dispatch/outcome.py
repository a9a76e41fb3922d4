"""What the dispatcher hands back for one request: an immutable `Outcome`.

The dispatcher builds it once, with the whole attempt log, and nothing patches it afterwards.
A stream's last attempt ends later than the outcome is made; its final record comes from the
stream itself (`dispatch.stream.StreamEnd`), never by editing this one.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

from ..router.plan import Candidate
from .stream import LiveStream
from .values import AttemptRecord, DispatchError, UnaryAnswer


class Outcome(NamedTuple):
    """Everything the dispatcher did for one request: the answer (or error) and its story.
    Immutable (a tuple: built once per request, it must be cheap to make)."""

    candidate: Candidate | None  # who answered; None when nobody did
    answer: UnaryAnswer | None = None
    stream: LiveStream | None = None
    error: DispatchError | None = None
    attempts: tuple[AttemptRecord, ...] = ()
    skipped: tuple[Mapping[str, Any], ...] = ()  # {"slug", "deployment", "why", "retry_at"?}
    dropped_params: tuple[str, ...] = ()
    queue_wait: float = 0.0  # seconds waited for a rate-limit reset
    slept: float = 0.0  # seconds of backoff between retries of the same deployments
    panic: bool = False
    escalations: tuple[str, ...] = ()  # cascades: one note per escalation
    extra_cost: float = 0.0  # USD of answers a cascade discarded (real spend, billed to the request)
    fallback: bool = False  # answered by another model than the first one planned (per cascade step)
    # Seconds spent in upstream attempts (a stream's committed one up to its first content).
    upstream_seconds: float = 0.0

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        return [(a.provider, a.slug or a.model, a.error or "ok") for a in self.attempts]
