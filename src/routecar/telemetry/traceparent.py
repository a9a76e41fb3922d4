"""W3C trace context: parsing an incoming `traceparent`, making ids, the sampling decision,
and the request's trace as decided on arrival (`start_trace`).

Stdlib only, so the request path never imports anything heavy. Ids come from `random`
(as OpenTelemetry's own RandomIdGenerator does): they must be unique, not secret, and
`getrandbits` costs a fraction of an `os.urandom` syscall.
"""

from __future__ import annotations

import re
from random import getrandbits
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
    return f"{getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{getrandbits(64) or 1:016x}"


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


_MAX_TRACESTATE = 512  # the W3C's own bound for what a vendor must pass on


class TraceContext(NamedTuple):
    """A request's trace, decided when it arrives (only when spans are exported): the trace it
    joins, its SERVER span, and whether the trace is sampled. The dispatcher gives every
    upstream attempt a span id of its own under it; the exporter later builds the spans with
    exactly these ids, so an upstream that traces joins the same tree."""

    trace_id: str
    span_id: str  # the request's SERVER span
    parent_span_id: str | None  # the app's span, from its traceparent
    sampled: bool
    tracestate: str | None  # the app's, passed on unchanged

    def attempt_headers(self) -> tuple[str, dict[str, str]]:
        """A new attempt span id and the headers its upstream request carries."""
        span_id = new_span_id()
        headers = {"traceparent": format_traceparent(self.trace_id, span_id, self.sampled)}
        if self.tracestate:
            headers["tracestate"] = self.tracestate
        return span_id, headers


def start_trace(traceparent: str | None, tracestate: str | None, ratio: float) -> TraceContext:
    """The trace of a request that arrived with these headers: the app's trace when its
    traceparent is valid (its tracestate too, W3C: only with a valid traceparent), else a new one.
    Sampling is decided by trace id alone (`sampled`), so every pod and every span agree."""
    parent = parse_traceparent(traceparent)
    if parent is None:
        trace_id = new_trace_id()
        return TraceContext(trace_id, new_span_id(), None, sampled(trace_id, ratio), None)
    state = tracestate.strip() if tracestate and len(tracestate) <= _MAX_TRACESTATE else None
    return TraceContext(parent.trace_id, new_span_id(), parent.span_id, sampled(parent.trace_id, ratio),
                        state or None)
