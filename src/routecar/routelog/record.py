"""One explainable row per request (docs/route-log.md).

The request path fills a `RouteRecord` once the request is over and hands it to the writer's
queue; the writer turns it into a SQLite row off the request path. Fields that are JSON in
SQLite are plain Python values here (lists and dicts) and are serialized by the writer.

The list columns that describe the plan and the attempts (`candidates`, `rules_matched`,
`skipped`, `attempt_log`) cost a dict per candidate and per attempt to build, and nothing on
the request path reads them. So a record may carry, instead of those lists, a `detail`: the
request's immutable plan and dispatch outcome, which the writer asks for the columns
(`list_columns`) when it serializes the row. Nothing is written back into the record: the
record is never changed after it is submitted, so the writer's thread and the event loop can
both read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol

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

# The columns a `RowDetail` builds.
DETAIL_COLUMNS = ("candidates", "rules_matched", "skipped", "attempt_log")


class RowDetail(Protocol):
    """Immutable sources of a row's list columns (the plan and the dispatch outcome)."""

    def columns(self) -> Mapping[str, Any]:
        """`candidates`, `rules_matched`, `skipped` and `attempt_log` as JSON-ready values."""

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        """(provider, model slug, "ok" or the error class) per upstream attempt, for metrics."""


@dataclass(slots=True)
class RouteRecord:
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
    # The router's inputs (schema v3, for `routecar replay`); None until the body is parsed.
    est_prompt_tokens: int | None = None
    est_output_tokens: int | None = None
    has_tools: bool | None = None
    has_images: bool | None = None
    json_mode: bool | None = None
    json_schema: bool | None = None
    # Not a column: when set, the source of the DETAIL_COLUMNS (see the module docstring).
    detail: RowDetail | None = None
    # Not a column: the request's trace (telemetry/traceparent.py TraceContext: trace id, server
    # span id, the app's parent span, sampled), decided on arrival when spans are exported and
    # None otherwise; the telemetry exporter builds the spans with these ids.
    trace: Any = None
    # Not a column: the app's max_tokens (or max_completion_tokens), set only with a trace.
    max_tokens: int | None = None

    def list_columns(self) -> Mapping[str, Any]:
        """The DETAIL_COLUMNS of this row: built from `detail` when there is one."""
        if self.detail is not None:
            return self.detail.columns()
        return {"candidates": self.candidates, "rules_matched": self.rules_matched, "skipped": self.skipped,
                "attempt_log": self.attempt_log}

    def attempt_outcomes(self) -> Iterable[tuple[str, str, str]]:
        """(provider, model slug, "ok" or the error class) per upstream attempt."""
        if self.detail is not None:
            return self.detail.attempt_outcomes()
        return [(a.get("provider") or "", a.get("slug") or a.get("model") or "", a.get("error") or "ok")
                for a in self.attempt_log]
