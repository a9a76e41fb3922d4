"""Reading providers' rate-limit response headers into one shape.

Handled families:
- `Retry-After` (delta-seconds or an HTTP-date) and `retry-after-ms` (OpenAI, preferred when
  both are present because it is the more precise);
- OpenAI and compatibles: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as
  Go-style durations ("1s", "6m0s", "20ms", "1h2m3.5s"), or plain seconds;
- Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,
  remaining,reset}`, resets as RFC 3339 instants.

Upstream headers are untrusted input: a value that does not parse is ignored, never raised.
All times come out as seconds from now so callers can add them to their monotonic clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Mapping

from ..config.durations import parse_duration_text

_PREFIXES = ("retry-after", "x-ratelimit-", "anthropic-ratelimit-")
_FIRST_LETTERS = frozenset("rRxXaA")
# Go's time.Duration.String() units, which OpenAI's resets are written in ("6m0s", "20ms").
_GO_UNITS = frozenset({"h", "m", "s", "ms", "us", "µs", "ns"})
# A bare number this large is a unix timestamp, not a number of seconds to wait.
_EPOCH_THRESHOLD = 1e9
_MAX_HEADER_LEN = 64


@dataclass(frozen=True, slots=True)
class RateLimitInfo:
    retry_after: float | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    limit_requests: int | None = None
    limit_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None

    @property
    def empty(self) -> bool:
        # Spelled out rather than a loop over fields(): read after every upstream answer.
        return (self.retry_after is None and self.remaining_requests is None
                and self.remaining_tokens is None and self.limit_requests is None
                and self.limit_tokens is None and self.reset_requests is None
                and self.reset_tokens is None)


NO_INFO = RateLimitInfo()  # frozen: shared by every answer without rate-limit headers


def _finite_nonneg(value: float) -> float | None:
    return value if math.isfinite(value) and value >= 0 else None


def _parse_float(text: str) -> float | None:
    try:
        return _finite_nonneg(float(text))
    except ValueError:
        return None


def _parse_count(text: str) -> int | None:
    value = _parse_float(text)
    return None if value is None else int(value)


def _parse_duration(text: str) -> float | None:
    """Go-style duration ("1h2m3.5s", "20ms") as seconds; None unless the whole text parses."""
    return parse_duration_text(text, _GO_UNITS)


def _parse_http_date(text: str, now_wall: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now_wall)


def _parse_rfc3339(text: str, now_wall: float) -> float | None:
    try:
        # Python 3.11 reads "Z" and fractional seconds; RFC 3339 allows a lowercase "t"/"z".
        when = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    try:
        return max(0.0, when.timestamp() - now_wall)
    except (OverflowError, OSError):
        return None


def _parse_reset(text: str, now_wall: float) -> float | None:
    """A reset in any form seen in the wild: duration, plain seconds, epoch, or a date."""
    number = _parse_float(text)
    if number is not None:
        return max(0.0, number - now_wall) if number >= _EPOCH_THRESHOLD else number
    duration = _parse_duration(text)
    if duration is not None:
        return duration
    return _parse_rfc3339(text, now_wall)


def _parse_retry_after(text: str, now_wall: float) -> float | None:
    seconds = _parse_float(text)
    if seconds is not None:
        return seconds
    return _parse_http_date(text, now_wall)


def _count(h: Mapping[str, str], name: str) -> int | None:
    text = h.get(name)
    return _parse_count(text) if text else None


def _reset(h: Mapping[str, str], name: str, now_wall: float) -> float | None:
    text = h.get(name)
    return _parse_reset(text, now_wall) if text else None


def _relevant(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in headers.items():
        # Every upstream answer comes through here, most with no rate-limit header at all:
        # the first letter rules out the usual ones before any lowering.
        if not isinstance(name, str) or name[:1] not in _FIRST_LETTERS or not isinstance(value, str):
            continue
        lower = name.lower()
        # Real values are short; a huge one is garbage and not worth parsing.
        if lower.startswith(_PREFIXES) and lower not in found and len(value) <= _MAX_HEADER_LEN:
            found[lower] = value.strip()
    return found


def _anthropic_tokens(
    h: Mapping[str, str], now_wall: float
) -> tuple[int | None, int | None, float | None]:
    """Remaining, limit and reset of Anthropic's token limits.

    `tokens-*` already is the most restrictive limit in effect; without it, the input or
    output family whose remaining share is smaller is the one that will bite first.
    """
    best: tuple[int | None, int | None, float | None] = (None, None, None)
    best_share = math.inf
    for family in ("tokens", "input-tokens", "output-tokens"):
        remaining = _count(h, f"anthropic-ratelimit-{family}-remaining")
        limit = _count(h, f"anthropic-ratelimit-{family}-limit")
        reset = _reset(h, f"anthropic-ratelimit-{family}-reset", now_wall)
        if remaining is None and limit is None and reset is None:
            continue
        if family == "tokens":
            return remaining, limit, reset
        share = remaining / limit if remaining is not None and limit else math.inf
        if best == (None, None, None) or share < best_share:
            best, best_share = (remaining, limit, reset), share
    return best


def parse_rate_limit(headers: Mapping[str, str], now_wall: float) -> RateLimitInfo:
    """Read every known rate-limit header; `now_wall` is unix seconds for absolute dates."""
    h = _relevant(headers)
    if not h:
        return NO_INFO

    retry_after = None
    if "retry-after-ms" in h:
        ms = _parse_float(h["retry-after-ms"])
        retry_after = None if ms is None else ms / 1000.0
    if retry_after is None and "retry-after" in h:
        retry_after = _parse_retry_after(h["retry-after"], now_wall)

    remaining_requests = _count(h, "x-ratelimit-remaining-requests")
    limit_requests = _count(h, "x-ratelimit-limit-requests")
    reset_requests = _reset(h, "x-ratelimit-reset-requests", now_wall)
    remaining_tokens = _count(h, "x-ratelimit-remaining-tokens")
    limit_tokens = _count(h, "x-ratelimit-limit-tokens")
    reset_tokens = _reset(h, "x-ratelimit-reset-tokens", now_wall)

    if remaining_requests is None and limit_requests is None and reset_requests is None:
        remaining_requests = _count(h, "anthropic-ratelimit-requests-remaining")
        limit_requests = _count(h, "anthropic-ratelimit-requests-limit")
        reset_requests = _reset(h, "anthropic-ratelimit-requests-reset", now_wall)
    if remaining_tokens is None and limit_tokens is None and reset_tokens is None:
        remaining_tokens, limit_tokens, reset_tokens = _anthropic_tokens(h, now_wall)

    return RateLimitInfo(
        retry_after=retry_after,
        remaining_requests=remaining_requests,
        remaining_tokens=remaining_tokens,
        limit_requests=limit_requests,
        limit_tokens=limit_tokens,
        reset_requests=reset_requests,
        reset_tokens=reset_tokens,
    )
