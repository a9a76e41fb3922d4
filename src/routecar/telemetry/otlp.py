"""Route records to OTLP protobuf export requests (traces and logs), per the OpenTelemetry
GenAI semantic conventions: a SERVER span "{operation} {requested model}" per request and a
CLIENT span "{operation} {upstream model}" per upstream attempt.

Runs in the exporter's worker thread. The attempts carry no start time of their own (only
durations are measured on the request path), so attempt spans are laid end to end from the
request's start, each with its measured duration, clamped to the request's end.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from routecar import __version__ as _version
from routecar.routelog.record import RouteRecord

# GenAI operation per routecar endpoint (gen_ai.operation.name).
OPERATIONS = {"chat": "chat", "messages": "chat", "embeddings": "embeddings"}
# Outcomes that are the app's doing, not a failure of the service (no ERROR status).
_NOT_ERRORS = frozenset({"ok", "bad_request", "client_cancelled"})
_SEVERITY_INFO, _SEVERITY_WARN = 9, 13


def _value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def _attrs(pairs: Iterable[tuple[str, Any]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in pairs if v is not None and v != ""]


def _resource(service: str) -> Resource:
    return Resource(attributes=_attrs([("service.name", service), ("telemetry.sdk.name", "routecar"),
                                       ("service.version", _version)]))


_SCOPE = InstrumentationScope(name="routecar", version=_version)


def request_spans(record: RouteRecord, trace_id: str, server_span_id: str, parent_span_id: str | None,
                  attempt_span_ids: list[str]) -> list[Span]:
    """The request's SERVER span and one CLIENT span per attempt (`attempt_span_ids` has one id
    per entry of the record's attempt log)."""
    op = OPERATIONS.get(record.endpoint, record.endpoint)
    start = int(record.ts * 1e9)
    end = start + int(record.latency_ms * 1e6)
    asked = record.requested_model or record.route or ""
    attempts: list[Mapping[str, Any]] = list(record.list_columns()["attempt_log"])
    error_type = None if record.outcome == "ok" else record.outcome
    server = Span(
        trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(server_span_id),
        parent_span_id=bytes.fromhex(parent_span_id) if parent_span_id else b"",
        name=f"{op} {asked}".strip(), kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start, end_time_unix_nano=end,
        attributes=_attrs([
            ("gen_ai.operation.name", op),
            ("gen_ai.provider.name", record.provider),
            ("gen_ai.request.model", asked),
            ("gen_ai.response.model", record.upstream_model),
            ("gen_ai.usage.input_tokens", record.prompt_tokens),
            ("gen_ai.usage.output_tokens", record.completion_tokens),
            ("error.type", error_type),
            ("http.response.status_code", record.status or None),
            ("routecar.request_id", record.request_id),
            ("routecar.route", record.route),
            ("routecar.strategy", record.strategy),
            ("routecar.outcome", record.outcome),
            ("routecar.cost_usd", record.cost_usd),
            ("routecar.attempts", record.attempts),
            ("routecar.cache", record.cache or "none"),
            ("routecar.chosen_model", record.chosen_model),
            ("routecar.stream", record.stream),
        ]),
        status=Status(code=Status.STATUS_CODE_ERROR if record.outcome not in _NOT_ERRORS else Status.STATUS_CODE_UNSET),
    )
    spans = [server]
    at = start
    for a, span_id in zip(attempts, attempt_span_ids):
        a_start = min(at, end)
        a_end = min(a_start + int(float(a.get("latency_ms") or 0.0) * 1e6), end)
        at = a_end
        err = a.get("error")
        spans.append(Span(
            trace_id=server.trace_id, span_id=bytes.fromhex(span_id), parent_span_id=server.span_id,
            name=f"{op} {a.get('model') or ''}".strip(), kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=a_start, end_time_unix_nano=a_end,
            attributes=_attrs([
                ("gen_ai.operation.name", op),
                ("gen_ai.provider.name", a.get("provider")),
                ("gen_ai.request.model", a.get("model")),
                ("routecar.model", a.get("slug")),
                ("http.response.status_code", a.get("status")),
                ("error.type", err),
                ("routecar.hedge", a.get("hedge") or None),
                ("routecar.lost", a.get("lost") or None),
            ]),
            status=Status(code=Status.STATUS_CODE_ERROR if err else Status.STATUS_CODE_UNSET),
        ))
    return spans


def trace_request(spans: list[Span], service: str) -> bytes:
    req = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=_resource(service), scope_spans=[ScopeSpans(scope=_SCOPE, spans=spans)])])
    return req.SerializeToString()


def log_record(row_json: str, record: RouteRecord, trace_id: str | None, span_id: str | None) -> LogRecord:
    """One route row as a log record: the row's JSON as the body, linked to its server span."""
    ts = int(record.ts * 1e9)
    failed = record.outcome not in _NOT_ERRORS
    return LogRecord(
        time_unix_nano=ts, observed_time_unix_nano=ts + int(record.latency_ms * 1e6),
        severity_number=_SEVERITY_WARN if failed else _SEVERITY_INFO, severity_text="WARN" if failed else "INFO",
        body=AnyValue(string_value=row_json),
        attributes=_attrs([("event.name", "routecar.route_row"), ("routecar.request_id", record.request_id),
                           ("routecar.outcome", record.outcome)]),
        trace_id=bytes.fromhex(trace_id) if trace_id else b"", span_id=bytes.fromhex(span_id) if span_id else b"",
    )


def logs_request(records: list[LogRecord], service: str) -> bytes:
    req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=_resource(service), scope_logs=[ScopeLogs(scope=_SCOPE, log_records=records)])])
    return req.SerializeToString()
