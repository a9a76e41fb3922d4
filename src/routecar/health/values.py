"""Plain values that cross the health boundary: admissions in, results in, views out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

# Why a deployment may not take a request now; also what the route log's `skipped` says.
ADMISSION_REASONS = ("circuit_open", "cooling_down", "no_headroom", "rpm_limit", "tpm_limit")

# What became of one attempt, as the dispatcher classified it:
# success; failure (5xx, timeout, connect, malformed, broken stream: counts against the
# breaker); rate_limited (429: cooldown, not a breaker failure); overloaded (529/503 with
# retry-after: short cooldown and a breaker failure); neutral (400, cancel: no verdict).
RESULT_KINDS = ("success", "failure", "rate_limited", "overloaded", "neutral")


@dataclass(frozen=True, slots=True)
class Admission:
    ok: bool
    reason: str | None = None
    retry_at: float | None = None  # monotonic instant worth trying again, when known
    probe: bool = False  # True when this request is a half-open probe


ADMITTED = Admission(True)
ADMITTED_PROBE = Admission(True, probe=True)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    kind: str
    status: int | None = None
    latency: float | None = None  # seconds, whole attempt
    ttft: float | None = None  # seconds to the first content byte
    headers: Mapping[str, str] | None = None  # upstream response headers (rate limits)
    tokens: int | None = None  # real total tokens from `usage`, when known
    # The estimate passed to `on_start`; with `tokens` it lets the tpm window count an
    # overshoot. Left None, the estimate stands.
    est_tokens: int | None = None
    # `Admission.probe` of the attempt, so a straggler admitted before a trip cannot close
    # the breaker or free a probe slot. None (unknown) treats a result in half-open as the
    # probe's.
    probe: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in RESULT_KINDS:
            raise ValueError(f"unknown attempt result kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class DeploymentView:
    """What the router reads about one deployment; the defaults describe one never seen."""

    state: str = "closed"
    in_flight: int = 0
    ttft_p50: float | None = None  # seconds
    ttft_p95: float | None = None
    ttft_p99: float | None = None
    latency_p50: float | None = None  # seconds
    latency_p95: float | None = None
    latency_p99: float | None = None
    samples: int = 0  # latency samples behind the percentiles
    ttft_samples: int = 0
    headroom_fraction: float | None = None  # smallest remaining/limit share, None if unknown
    cooling_until: float | None = None  # monotonic
    error_rate: float = 0.0  # failures / requests in the breaker's window


UNKNOWN_VIEW = DeploymentView()
