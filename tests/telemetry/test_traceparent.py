"""The request's trace as decided on arrival (telemetry/traceparent.py)."""

from __future__ import annotations

from routecar.telemetry.traceparent import TraceContext, parse_traceparent, sampled, start_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_the_apps_trace_is_joined_with_its_tracestate() -> None:
    t = start_trace(PARENT, " a=1,b=2 ", 1.0)
    assert (t.trace_id, t.parent_span_id, t.sampled, t.tracestate) == (TRACE, "00f067aa0ba902b7", True, "a=1,b=2")
    assert len(t.span_id) == 16 and t.span_id != "00f067aa0ba902b7"


def test_a_missing_or_invalid_traceparent_starts_a_new_trace_and_drops_tracestate() -> None:
    for header in (None, "", "garbage", f"ff-{TRACE}-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01"):
        t = start_trace(header, "a=1", 1.0)
        assert t.parent_span_id is None and t.tracestate is None and t.trace_id != TRACE
        assert parse_traceparent(f"00-{t.trace_id}-{t.span_id}-01") is not None
    assert start_trace(PARENT, "x" * 513, 1.0).tracestate is None  # beyond the W3C bound: not passed on


def test_each_attempt_gets_its_own_span_under_the_trace() -> None:
    t = TraceContext(TRACE, "1" * 16, None, True, "a=1")
    (s1, h1), (s2, h2) = t.attempt_headers(), t.attempt_headers()
    assert s1 != s2
    assert h1 == {"traceparent": f"00-{TRACE}-{s1}-01", "tracestate": "a=1"}
    unsampled = t._replace(sampled=False, tracestate=None)
    span, headers = unsampled.attempt_headers()
    assert headers == {"traceparent": f"00-{TRACE}-{span}-00"}


def test_sampling_is_decided_by_trace_id_alone() -> None:
    low, high = "0" * 16 + "0" * 15 + "1", "0" * 16 + "f" * 16
    assert sampled(low, 0.5) and not sampled(high, 0.5)
    assert start_trace(f"00-{low}-00f067aa0ba902b7-00", None, 0.5).sampled  # the ratio, not the app's flag
    assert not start_trace(f"00-{high}-00f067aa0ba902b7-01", None, 0.5).sampled
    assert all(start_trace(None, None, 1.0).sampled for _ in range(20))
    assert not any(start_trace(None, None, 0.0).sampled for _ in range(20))
