"""W3C trace context: parsing an incoming `traceparent`, making ids, the sampling decision.

Stdlib only, so the request path never imports anything heavy.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class Parent(NamedTuple):
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    flags: int


def parse_traceparent(value: str | None) -> Parent | None:
    """The parent a `traceparent` header names, or None when absent or malformed (the W3C
    rules: version ff and all-zero ids are invalid; a future version may carry more fields)."""
    if not value or len(value) > 512:
        return None
    m = _TRACEPARENT.match(value.strip().lower())
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return Parent(trace_id, span_id, int(flags, 16))


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    span = os.urandom(8).hex()
    return span if span != _ZERO_SPAN else "0000000000000001"


def sampled(trace_id: str, ratio: float) -> bool:
    """Deterministic per trace id, like OpenTelemetry's TraceIdRatioBased: the trace id's low
    64 bits against ratio * 2^64, so every pod (and every span of a trace) agrees."""
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    return int(trace_id[16:], 16) < int(ratio * (1 << 64))


def format_traceparent(trace_id: str, span_id: str, sampled_flag: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled_flag else '00'}"
