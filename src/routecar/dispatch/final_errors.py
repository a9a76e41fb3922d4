"""What the app is told when a request gets no answer: one DispatchError from the attempt log.

The dispatcher decides when to give up (dispatcher.py); this module only words the outcome:
the status (429 when every attempt or skip was a rate limit, 504 when everything timed out or
the deadline passed, 503 when circuits were open, else 502), `Retry-After` from the soonest
rate-limit reset or the upstream's own header, and a message that names every attempt and skip
(AttemptLog.summary). An upstream error that must not fail over (a 400, say) is answered with
the upstream's own status, type and message, redacted.
"""

from __future__ import annotations

from typing import Callable

from .attempt_log import AttemptLog
from .values import AttemptFailure, DispatchError

# Why a candidate may be passed over for now that a wait can cure.
RATE_LIMIT_SKIPS = frozenset({"cooling_down", "no_headroom", "rpm_limit", "tpm_limit"})


def deadline_error(log: AttemptLog) -> DispatchError:
    return DispatchError(504, "timeout", "The request deadline passed before any provider answered. "
                         + log.summary(), "deadline_exceeded", error_type="timeout_error")


def upstream_fatal(failure: AttemptFailure, redact: Callable[[str], str]) -> DispatchError:
    """A failure that would fail the same everywhere: the upstream's own words, keys redacted."""
    status = failure.status or 502
    message = redact(failure.error.message if failure.error else failure.describe())
    etype = failure.error.type if failure.error else "upstream_error"
    code = (failure.error.code if failure.error else None) or "upstream_error"
    return DispatchError(status, "upstream_error" if status >= 500 else "bad_request", message, code,
                         error_type=etype or "invalid_request_error")


def final_error(log: AttemptLog, last: AttemptFailure | None, now: float,
                budget_exhausted: bool = False) -> DispatchError:
    """Every candidate failed or was skipped; `now` on the dispatcher's clock (retry times are)."""
    retry_at = log.soonest_retry_at()
    retry_after = max(1.0, retry_at - now) if retry_at is not None else None
    summary = log.summary()
    if log.count:
        if log.all_rate_limited():
            ra = retry_after or _retry_after_from(last) or 1.0
            return DispatchError(429, "rate_limited", "Every candidate is rate limited. " + summary,
                                 "rate_limited", ra, "rate_limit_error")
        if last is not None and last.kind.endswith("timeout") and log.all_timed_out():
            return DispatchError(504, "timeout", "Every attempt timed out. " + summary, "upstream_timeout",
                                 error_type="timeout_error")
        why = "Retry budget exhausted after a failure. " if budget_exhausted else "Every attempt failed upstream. "
        if log.panic:
            return DispatchError(503, "circuit_open", why + summary, "upstream_error", retry_after)
        return DispatchError(502, "upstream_error", why + summary, "upstream_error", retry_after)
    reasons = log.skip_reasons()
    if reasons & RATE_LIMIT_SKIPS:
        return DispatchError(429, "rate_limited", "Every candidate is rate limited or cooling down. " + summary,
                             "rate_limited", retry_after or 1.0, "rate_limit_error")
    if "circuit_open" in reasons:
        return DispatchError(503, "circuit_open", "Every candidate's circuit is open. " + summary,
                             "circuit_open", retry_after or 1.0, "service_unavailable")
    return DispatchError(502, "upstream_error", "No candidate could be tried. " + summary, "upstream_error")


def _retry_after_from(failure: AttemptFailure | None) -> float | None:
    if failure is None or not failure.headers:
        return None
    value = failure.headers.get("retry-after") or failure.headers.get("Retry-After")
    try:
        return max(1.0, float(value)) if value else None
    except ValueError:
        return None
