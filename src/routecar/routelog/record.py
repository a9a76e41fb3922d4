"""One explainable row per request (SPEC §5).

The request path fills a `RouteRecord` and hands it to the writer's queue; the writer turns it
into a SQLite row off the request path. Fields that are JSON in SQLite are plain Python values
here (lists and dicts) and are serialized by the writer.
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
