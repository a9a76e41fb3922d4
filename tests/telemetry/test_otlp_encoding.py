"""The hand-written OTLP encoding (telemetry/protowire.py, otlp.py) decoded by opentelemetry-proto."""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from routecar import __version__
from routecar.routelog.record import RouteRecord
from routecar.telemetry import otlp, protowire

TRACE, SERVER, PARENT, A1, A2 = "4bf92f3577b34da6a3ce929d0e0e4736", "1" * 16, "00f067aa0ba902b7", "a" * 16, "b" * 16


def record() -> RouteRecord:
    r = RouteRecord(time.time(), "req-1", "chat", requested_model="fast", route="fast", strategy="ordered",
                    outcome="ok", status=200, provider="good", upstream_model="up-good", chosen_model="m",
                    attempts=2, latency_ms=120.5, prompt_tokens=10, completion_tokens=5, cost_usd=0.00125,
                    stream=True, max_tokens=64)
    r.attempt_log = [
        {"provider": "bad", "model": "up-bad", "slug": "m", "status": 503, "error": "http_5xx", "latency_ms": 40.0},
        {"provider": "good", "model": "up-good", "slug": "m", "status": 200, "error": None, "latency_ms": 70.25,
         "hedge": True},
    ]
    return r


def attrs(kvs: list[KeyValue]) -> dict:
    return {kv.key: (kv.value.WhichOneof("value"), getattr(kv.value, kv.value.WhichOneof("value"))) for kv in kvs}


@pytest.mark.parametrize("value", [True, False, 0, 1, 127, 128, 300, 2**40, -1, -(2**63), 2**63 - 1, 0.0, 1.5,
                                   -2.25e-9, "", "x", "é ünïcode", "a" * 300])
def test_any_value_round_trips(value: object) -> None:
    got = AnyValue.FromString(protowire.any_value(value))
    kind = {bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}[type(value)]
    assert got.WhichOneof("value") == kind and getattr(got, kind) == value


def test_spans_decode_with_every_field() -> None:
    r = record()
    server, bad, good = (Span.FromString(s) for s in otlp.request_spans(r, TRACE, SERVER, PARENT, [A1, A2]))
    start = int(r.ts * 1e9)
    assert (server.trace_id.hex(), server.span_id.hex(), server.parent_span_id.hex()) == (TRACE, SERVER, PARENT)
    assert (server.name, server.kind) == ("chat fast", Span.SPAN_KIND_SERVER)
    assert (server.start_time_unix_nano, server.end_time_unix_nano) == (start, start + int(120.5 * 1e6))
    assert server.status.code == Status.STATUS_CODE_UNSET
    assert attrs(server.attributes) == {
        "gen_ai.operation.name": ("string_value", "chat"), "gen_ai.provider.name": ("string_value", "good"),
        "gen_ai.request.model": ("string_value", "fast"), "gen_ai.response.model": ("string_value", "up-good"),
        "gen_ai.usage.input_tokens": ("int_value", 10), "gen_ai.usage.output_tokens": ("int_value", 5),
        "gen_ai.request.max_tokens": ("int_value", 64), "http.response.status_code": ("int_value", 200),
        "routecar.request_id": ("string_value", "req-1"), "routecar.route": ("string_value", "fast"),
        "routecar.strategy": ("string_value", "ordered"), "routecar.outcome": ("string_value", "ok"),
        "routecar.cost_usd": ("double_value", 0.00125), "routecar.attempts": ("int_value", 2),
        "routecar.cache": ("string_value", "none"), "routecar.chosen_model": ("string_value", "m"),
        "routecar.stream": ("bool_value", True),
    }
    assert (bad.span_id.hex(), bad.parent_span_id, bad.kind) == (A1, server.span_id, Span.SPAN_KIND_CLIENT)
    assert (bad.name, bad.status.code) == ("chat up-bad", Status.STATUS_CODE_ERROR)
    assert attrs(bad.attributes)["error.type"] == ("string_value", "http_5xx")
    assert (bad.start_time_unix_nano, bad.end_time_unix_nano) == (start, start + 40_000_000)
    assert good.start_time_unix_nano == bad.end_time_unix_nano and good.end_time_unix_nano <= server.end_time_unix_nano
    assert "error.type" not in attrs(good.attributes) and attrs(good.attributes)["routecar.hedge"] == ("bool_value", True)
    assert good.trace_id.hex() == TRACE and good.status.code == Status.STATUS_CODE_UNSET


def test_export_requests_decode_with_resource_and_scope() -> None:
    r = record()
    r.outcome = "upstream_error"
    spans = otlp.request_spans(r, TRACE, SERVER, None, [A1, A2])
    req = ExportTraceServiceRequest.FromString(otlp.trace_request(spans, "routecar"))
    [rs] = req.resource_spans
    assert attrs(rs.resource.attributes)["service.name"] == ("string_value", "routecar")
    [ss] = rs.scope_spans
    assert (ss.scope.name, ss.scope.version) == ("routecar", __version__)
    assert [s.span_id.hex() for s in ss.spans] == [SERVER, A1, A2]
    assert ss.spans[0].parent_span_id == b"" and ss.spans[0].status.code == Status.STATUS_CODE_ERROR
    logs = ExportLogsServiceRequest.FromString(otlp.logs_request(
        [otlp.log_record('{"request_id":"req-1"}', r, TRACE, SERVER), otlp.log_record("{}", r, None, None)],
        "routecar"))
    [rl] = logs.resource_logs
    [sl] = rl.scope_logs
    linked, unlinked = sl.log_records
    assert linked.body.string_value == '{"request_id":"req-1"}'
    assert (linked.trace_id.hex(), linked.span_id.hex()) == (TRACE, SERVER)
    assert (linked.severity_text, linked.severity_number) == ("WARN", 13)
    assert linked.time_unix_nano == int(r.ts * 1e9) < linked.observed_time_unix_nano
    assert attrs(linked.attributes)["routecar.request_id"] == ("string_value", "req-1")
    assert unlinked.trace_id == b"" and unlinked.span_id == b""
