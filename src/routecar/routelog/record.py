"""One explainable row per request (SPEC §5).

The request path fills a `RouteRecord` and hands it to the writer's queue; the writer turns it
into a SQLite row off the request path. Fields that are JSON in SQLite are plain Python values
here (lists and dicts) and are serialized by the writer.

The list columns that describe the plan and the attempts (`candidates`, `rules_matched`,
`skipped`, `attempt_log`) cost a dict per candidate and per attempt to build, and nothing on
the request path reads them: the handler only hands the record its Plan and Attempts
(`defer_plan` / `defer_attempts`) and the writer calls `materialize()` when it serializes the
row. Neither the plan nor the attempts change once the request is answered, so the row is the
same as if it had been built on the spot. Code that must edit those lists on the request
path (a broken stream marks its last attempt) calls `materialize()` first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OUTCOMES = (
    "ok",
    "upstream_error",
    "rate_limited",
    "circuit_open",
    "timeout",
    "stream_broken",
    "client_cancelled",
    "bad_request",
    "budget_rejected",
)


@dataclass(slots=True)
class AttemptRecord:
    provider: str
    model: str  # upstream model name
    slug: str  # catalog slug the deployment belongs to
    status: int | None  # HTTP status from upstream, None when no answer (connect error, timeout)
    error: str | None  # error class: "connect", "timeout", "first_token_timeout", "idle_timeout",
    # "http_429", "http_5xx", "malformed", "stream_broken", "cancelled", or None on success
    latency_ms: float
    ttft_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "slug": self.slug,
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 2),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 2),
        }


class _Deferred:
    """Slots outside the dataclass fields: they are not route-log columns (the column list is
    the field list), and they may stay unset (records built elsewhere, tests), hence getattr."""

    __slots__ = ("_plan", "_skip_plan", "_attempts", "_skip_now")


@dataclass(slots=True)
class RouteRecord(_Deferred):
    ts: float  # unix seconds when the request arrived
    request_id: str
    endpoint: str  # "chat", "embeddings", "messages"
    requested_model: str | None = None
    route: str | None = None
    strategy: str | None = None
    chosen_model: str | None = None
    provider: str | None = None
    upstream_model: str | None = None
    status: int = 0
    outcome: str = "ok"
    attempts: int = 0
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    est_cost_usd: float | None = None
    stream: bool = False
    reason: str | None = None
    skipped: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # scores, for `explain`
    rules_matched: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    shadow_model: str | None = None
    overhead_ms: float | None = None
    config_hash: str | None = None
    cache: str = ""
    classes: dict[str, Any] = field(default_factory=dict)
    error_message: str | None = None
    escalations: int = 0
    fallback: bool = False  # the answer came from a model other than the first planned one
    canary: bool = False
    # Only filled when route_log.record_prompts is set.
    prompt: Any = None
    response: Any = None

    # -- deferred columns ---------------------------------------------------------------------

    def defer_plan(self, plan: Any) -> None:
        """`candidates`, `rules_matched` and `skipped` will be the plan's (a router Plan)."""
        self._plan = plan
        self._skip_plan = plan

    def defer_attempts(self, attempts: Any, plan: Any, now: float) -> None:
        """`attempt_log` will be the dispatcher's Attempts (cascade verdicts included) and
        `skipped` the plan's skips then the dispatcher's, `retry_at` (the health registry's
        monotonic clock) turned into seconds after `now`."""
        self._attempts = attempts
        self._skip_plan = plan
        self._skip_now = now

    def attempt_entries(self) -> list[Any]:
        """The attempts as the metrics count them: AttemptRecords while deferred, else the
        `attempt_log` dicts (which may carry a stream's late error)."""
        attempts = getattr(self, "_attempts", None)
        return self.attempt_log if attempts is None else attempts.log

    def materialize(self) -> None:
        """Builds the deferred columns now; a no-op once built or when nothing was deferred.

        The writer calls this off the request path, possibly in its own thread while the event
        loop reads `attempt_entries()`: each column is assigned whole, before its source slot
        is cleared, so a reader sees either the source or the finished list.
        """
        plan = getattr(self, "_plan", None)
        if plan is not None:
            self.rules_matched = list(plan.rules_matched)
            self.candidates = [c.describe() for c in plan.candidates]
            self._plan = None
        skip_plan = getattr(self, "_skip_plan", None)
        if skip_plan is None:
            return
        attempts = getattr(self, "_attempts", None)
        skipped = list(skip_plan.skipped)
        if attempts is not None:
            log = [a.as_dict() for a in attempts.log]
            for i, verdict in attempts.checks.items():  # cascade steps: how each answer fared
                log[i]["check"] = verdict
            now = self._skip_now
            # The router's skips (window, capabilities, canary, budget), then the dispatcher's.
            for s in attempts.skipped:
                entry = {k: v for k, v in s.items() if k != "retry_at"}
                if s.get("retry_at"):
                    entry["retry_in_s"] = round(max(0.0, s["retry_at"] - now), 3)
                skipped.append(entry)
            self.attempt_log = log
        self.skipped = skipped
        self._attempts = None
        self._skip_plan = None
