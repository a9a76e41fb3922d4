"""One request's working state, handed from stage to stage and to the server's encoder.

The server fills the request half (who, what, until when); the pipeline adds the plan and the
dispatcher's outcome (both immutable), or a stored answer a stage served instead; stages note
what they did in the `record` (the route-log row being built, submitted once, at the end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from ..routelog.record import RouteRecord

if TYPE_CHECKING:
    from ..dispatch.outcome import Outcome
    from ..dispatch.stream import StreamEnd
    from ..router.plan import Plan, RoutingRequest


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """A complete canonical answer served without an upstream call now (a cache hit)."""

    body: dict[str, Any]
    slug: str
    provider: str
    upstream_model: str | None
    kind: str  # the row's `cache` column: "hit" or "semantic_hit"
    age_s: float  # how long ago it was stored
    saved_usd: float | None  # what the stored answer cost when it was made


class Exchange:
    __slots__ = ("record", "started", "headers", "body", "routing", "deadline", "plan", "outcome", "stored",
                 "side_cost", "side_seconds", "answer_headers", "stream_end", "usage", "notes", "stages", "fleet_slot")

    def __init__(self, record: RouteRecord, started: float, headers: Mapping[str, str]):
        self.record = record  # the route-log row being built (plain values)
        self.started = started  # time.perf_counter() at arrival
        self.headers = headers  # the app's request headers
        self.body: dict[str, Any] = {}  # canonical (OpenAI-shaped) body
        self.routing: RoutingRequest | None = None
        self.deadline = 0.0  # monotonic
        self.plan: Plan | None = None
        self.outcome: Outcome | None = None
        self.stored: StoredAnswer | None = None
        self.side_cost = 0.0  # USD of calls made for the request itself (classifiers, embeddings)
        self.side_seconds = 0.0  # time spent waiting on those calls
        self.answer_headers: dict[str, str] = {"x-routecar-request-id": record.request_id}
        self.stream_end: StreamEnd | None = None  # how a streamed answer ended
        self.usage: Mapping[str, Any] | None = None  # the answer's usage, once known
        self.notes: dict[str, Any] = {}  # a stage's own notes between its hooks, by stage name
        self.stages: Any = None  # the pipeline's stages for this request's route, once it runs
        # The first attempt's fleet-wide rpm/tpm slot, when the budget stage fetched it with its
        # reservation (shared/admission.py): handed to the dispatcher.
        self.fleet_slot: Any = None

    @property
    def route(self) -> str | None:
        """The route this request runs on (after any downgrade), None for a model slug."""
        return self.plan.route if self.plan is not None else None

    def spend(self, cost: float | None, seconds: float) -> None:
        """A call made for this request (not its answer): billed to it, not counted as overhead."""
        self.side_seconds += seconds
        if cost:
            self.side_cost += cost
