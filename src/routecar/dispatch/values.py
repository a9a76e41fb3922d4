"""Failures and answers classified as values at the boundary of one attempt.

Every attempt ends as an `AttemptFailure` or an answer; the dispatcher decides from these
values alone whether to fail over, and health learns from the same value. Which classes fail
over is data (`resilience.retry.retry_on`), never code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from ..providers.base import UpstreamError

# Statuses that would fail on every candidate alike: never failed over unless retry_on names them.
NON_RETRYABLE = frozenset({400, 401, 403, 404, 422})


@dataclass(slots=True)
class AttemptFailure:
    # connect | timeout | first_token_timeout | idle_timeout | http | malformed | stream_broken
    # | no_credentials (a cloud provider's credentials are not fetched yet: nothing was sent)
    kind: str
    status: int | None = None
    error: UpstreamError | None = None
    headers: Mapping[str, str] | None = None
    detail: str = ""

    @property
    def handled_status(self) -> int | None:
        """The status failover, health and the error class go by: the upstream's, unless its
        error says it means another (see UpstreamError.counts_as)."""
        error = self.error
        return error.counts_as if error is not None and error.counts_as is not None else self.status

    @property
    def retry_class(self) -> str:
        """The name `retry_on` uses for this failure."""
        if self.kind in ("connect", "no_credentials"):  # nothing was sent: as safe to retry
            return "connect"
        if self.kind.endswith("timeout"):
            return "timeout"
        status = self.handled_status
        if self.kind == "http" and status is not None:
            if status == 429:
                return "429"
            if status >= 500:
                return "5xx"
            return str(status)
        return "5xx"  # malformed bodies and broken streams count as server faults

    @property
    def error_class(self) -> str:
        """The `error` field of the attempt in the route log."""
        status = self.handled_status
        if self.kind == "http" and status is not None:
            return "http_429" if status == 429 else ("http_5xx" if status >= 500 else f"http_{status}")
        return self.kind

    @property
    def health_kind(self) -> str:
        status = self.handled_status
        if self.kind == "http" and status is not None:
            if status == 429:
                return "rate_limited"
            if status == 529 or (status == 503 and self.headers and _has_retry_after(self.headers)):
                return "overloaded"
            if status < 500:
                return "neutral"  # the request's fault, not the deployment's
        return "failure"

    @property
    def context_length(self) -> bool:
        return bool(self.error and self.error.context_length)

    def describe(self) -> str:
        if self.kind == "http":
            msg = self.error.message if self.error else ""
            return f"HTTP {self.status}" + (f": {msg}" if msg else "")
        return self.kind.replace("_", " ") + (f": {self.detail}" if self.detail else "")


# An attempt's detail is a hint for an SRE, not a body: a few words are enough.
MAX_DETAIL = 200


def _has_retry_after(headers: Mapping[str, str]) -> bool:
    return "retry-after" in headers or "Retry-After" in headers or "retry-after-ms" in headers


def fails_over(failure: AttemptFailure, retry_on: frozenset[int | str]) -> bool:
    """Whether another candidate should get the request after this failure."""
    if failure.context_length:
        return True  # moves to a candidate with a larger window
    status = failure.handled_status
    if status is not None and (status in retry_on or failure.status in retry_on):
        return True
    if failure.kind == "http" and status in NON_RETRYABLE:
        return False
    return failure.retry_class in retry_on


class AttemptRecord(NamedTuple):
    """One upstream attempt as the route log and metrics see it (immutable: a tuple, because
    one is made for every attempt and a frozen dataclass costs several times more to build)."""

    provider: str
    model: str  # upstream model name
    slug: str  # catalog slug the deployment belongs to
    status: int | None  # HTTP status from upstream, None when no answer (connect error, timeout)
    # error class: "connect", "timeout", "first_token_timeout", "idle_timeout", "http_429",
    # "http_5xx", "malformed", "stream_broken", "cancelled", "sidecar_shutdown", or None on success
    error: str | None
    latency_ms: float
    ttft_ms: float | None = None
    check: str | None = None  # a cascade step's verdict: "passed" or "failed: CHECK"
    hedge: bool = False  # started by a hedge, racing a slow first attempt (dispatch/hedge.py)
    lost: bool = False  # lost a hedge race and was cancelled (or discarded)
    cost_usd: float | None = None  # a lost attempt's cost, billed to the request
    cost_estimated: bool = False  # that cost is from the prompt estimate, not upstream usage
    # The attempt's CLIENT span, whose traceparent the upstream request carried (only when
    # telemetry.otlp is configured); in the attempt_log JSON so a row names its spans.
    span_id: str | None = None
    # Why an attempt with no HTTP answer failed, in a few words ("connect timeout", "proxy
    # 10.0.0.5:3128 answered 407 to CONNECT api.openai.com:443"); redacted, capped.
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "provider": self.provider,
            "model": self.model,
            "slug": self.slug,
            "status": self.status,
            "error": self.error,
            "latency_ms": round(self.latency_ms, 2),
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 2),
        }
        if self.check is not None:
            out["check"] = self.check
        if self.hedge:
            out["hedge"] = True
        if self.lost:
            out["lost"] = True
            out["cost_usd"] = None if self.cost_usd is None else round(self.cost_usd, 8)
            out["cost_estimated"] = self.cost_estimated
        if self.span_id is not None:
            out["span_id"] = self.span_id
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class DispatchError:
    """Why no answer could be given; the server turns it into the entry point's error shape."""

    status: int
    outcome: str  # route-log outcome
    message: str
    code: str
    retry_after: float | None = None
    error_type: str = "upstream_error"
    param: str | None = None  # the request parameter at fault, when there is one


class DispatchRequest(NamedTuple):
    """What the dispatcher needs of a request: the canonical body and how it is to be served."""

    body: Mapping[str, Any]
    endpoint: str  # "chat" | "embeddings"
    stream: bool
    est_tokens: int
    # The first attempt's fleet-wide rpm/tpm answer, fetched ahead with the budget reservation
    # (shared/admission.py FleetSlot); None: the dispatcher asks Redis itself.
    fleet_slot: Any = None
    # The app's request headers; providers get those their `forward_headers` name.
    headers: Mapping[str, str] | None = None
    # The request's trace (telemetry/traceparent.py TraceContext) when spans are exported: each
    # attempt's upstream request carries a traceparent of its own span. None: no header.
    trace: Any = None


@dataclass(slots=True)
class UnaryAnswer:
    """A whole upstream answer, parsed to canonical."""

    status: int
    headers: Any
    body: dict[str, Any]
    latency: float
    # The upstream's own bytes (decoded): forwarded as they are when no translation happened.
    raw: bytes | None = None
