"""Route records to OTLP protobuf export requests (traces and logs), per the OpenTelemetry
GenAI semantic conventions: a SERVER span "{operation} {requested model}" per request and a
CLIENT span "{operation} {upstream model}" per upstream attempt.

Runs in the exporter's worker thread; the messages are encoded by hand (protowire.py), each
function returning its message's bytes. The attempts carry no start time of their own (only
durations are measured on the request path), so attempt spans are laid end to end from the
request's start, each with its measured duration, clamped to the request's end.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from routecar import __version__ as _version
from routecar.routelog.record import RouteRecord

from .protowire import Attributes, attributes, fixed64, message, tag, varint

# GenAI operation per routecar endpoint (gen_ai.operation.name).
OPERATIONS = {"chat": "chat", "messages": "chat", "embeddings": "embeddings"}
# Outcomes that are the app's doing, not a failure of the service (no ERROR status).
_NOT_ERRORS = frozenset({"ok", "bad_request", "client_cancelled"})
_SEVERITY_INFO, _SEVERITY_WARN = 9, 13
_KIND_SERVER, _KIND_CLIENT = 2, 3  # Span.SpanKind
_STATUS_ERROR = 2  # Status.StatusCode

# Field tags (opentelemetry/proto/trace/v1/trace.proto, logs/v1/logs.proto, common/v1/common.proto).
_SPAN_TRACE_ID, _SPAN_ID, _SPAN_PARENT, _SPAN_NAME = tag(1, 2), tag(2, 2), tag(4, 2), tag(5, 2)
_SPAN_KIND, _SPAN_START, _SPAN_END, _SPAN_ATTR, _SPAN_STATUS = tag(6, 0), tag(7, 1), tag(8, 1), tag(9, 2), tag(15, 2)
_STATUS_CODE = tag(3, 0)
_LOG_TIME, _LOG_SEVERITY, _LOG_SEVERITY_TEXT, _LOG_BODY = tag(1, 1), tag(2, 0), tag(3, 2), tag(5, 2)
_LOG_ATTR, _LOG_TRACE_ID, _LOG_SPAN_ID, _LOG_OBSERVED = tag(6, 2), tag(9, 2), tag(10, 2), tag(11, 1)
_STRING_VALUE = tag(1, 2)  # AnyValue.string_value
_FIRST, _SECOND = tag(1, 2), tag(2, 2)  # resource / scope and the repeated field beside it, in every wrapper
_ERROR_STATUS = message(_SPAN_STATUS, _STATUS_CODE + varint(_STATUS_ERROR))
_SPAN_ATTRS, _LOG_ATTRS = Attributes(_SPAN_ATTR), Attributes(_LOG_ATTR)
# Attributes whose values repeat across requests: their encoding is cached (protowire.Attributes).
_SERVER_REPEATED = frozenset({
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model", "error.type",
    "routecar.route", "routecar.strategy", "routecar.outcome", "routecar.cache", "routecar.chosen_model",
    "routecar.stream"})
_CLIENT_REPEATED = frozenset({"gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
                              "routecar.model", "error.type", "routecar.hedge", "routecar.lost"})
_LOG_REPEATED = frozenset({"event.name", "routecar.outcome"})


def _resource(service: str) -> bytes:
    return attributes(_FIRST, [("service.name", service), ("telemetry.sdk.name", "routecar"),
                               ("service.version", _version)])


_SCOPE = message(_FIRST, message(tag(1, 2), b"routecar") + message(tag(2, 2), _version.encode()))


def _span(trace_id: bytes, span_id: bytes, parent: bytes, name: str, kind: int, start: int, end: int,
          attrs: bytes, error: bool) -> bytes:
    return b"".join((
        message(_SPAN_TRACE_ID, trace_id), message(_SPAN_ID, span_id),
        message(_SPAN_PARENT, parent) if parent else b"",
        message(_SPAN_NAME, name.encode()), _SPAN_KIND + varint(kind),
        fixed64(_SPAN_START, start), fixed64(_SPAN_END, end),
        attrs,
        _ERROR_STATUS if error else b"",
    ))


def request_spans(record: RouteRecord, trace_id: str, server_span_id: str, parent_span_id: str | None,
                  attempt_span_ids: list[str], attempts: Iterable[Mapping[str, Any]] | None = None) -> list[bytes]:
    """The request's SERVER span and one CLIENT span per attempt (`attempt_span_ids` has one id
    per entry of the record's attempt log; `attempts`: that log, when the caller has it), each
    an encoded Span."""
    op = OPERATIONS.get(record.endpoint, record.endpoint)
    start = int(record.ts * 1e9)
    end = start + int(record.latency_ms * 1e6)
    asked = record.requested_model or record.route or ""
    if attempts is None:
        attempts = record.list_columns()["attempt_log"]
    error_type = None if record.outcome == "ok" else record.outcome
    trace = bytes.fromhex(trace_id)
    server_id = bytes.fromhex(server_span_id)
    spans = [_span(
        trace, server_id, bytes.fromhex(parent_span_id) if parent_span_id else b"",
        f"{op} {asked}".strip(), _KIND_SERVER, start, end,
        _SPAN_ATTRS((
            ("gen_ai.operation.name", op),
            ("gen_ai.provider.name", record.provider),
            ("gen_ai.request.model", asked),
            ("gen_ai.response.model", record.upstream_model),
            ("gen_ai.usage.input_tokens", record.prompt_tokens),
            ("gen_ai.usage.output_tokens", record.completion_tokens),
            ("gen_ai.request.max_tokens", record.max_tokens),
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
        ), _SERVER_REPEATED),
        record.outcome not in _NOT_ERRORS,
    )]
    at = start
    for a, span_id in zip(attempts, attempt_span_ids):
        a_start = min(at, end)
        a_end = min(a_start + int(float(a.get("latency_ms") or 0.0) * 1e6), end)
        at = a_end
        err = a.get("error")
        spans.append(_span(
            trace, bytes.fromhex(span_id), server_id, f"{op} {a.get('model') or ''}".strip(), _KIND_CLIENT,
            a_start, a_end,
            _SPAN_ATTRS((
                ("gen_ai.operation.name", op),
                ("gen_ai.provider.name", a.get("provider")),
                ("gen_ai.request.model", a.get("model")),
                ("routecar.model", a.get("slug")),
                ("http.response.status_code", a.get("status")),
                ("error.type", err),
                ("routecar.hedge", a.get("hedge") or None),
                ("routecar.lost", a.get("lost") or None),
            ), _CLIENT_REPEATED),
            bool(err),
        ))
    return spans


def trace_request(spans: list[bytes], service: str) -> bytes:
    """An ExportTraceServiceRequest: one ResourceSpans, one ScopeSpans holding `spans`."""
    scope_spans = _SCOPE + b"".join(message(_SECOND, s) for s in spans)
    resource_spans = message(_FIRST, _resource(service)) + message(_SECOND, scope_spans)
    return message(_FIRST, resource_spans)


def log_record(row_json: str, record: RouteRecord, trace_id: str | None, span_id: str | None) -> bytes:
    """One route row as a log record: the row's JSON as the body, linked to its server span."""
    ts = int(record.ts * 1e9)
    failed = record.outcome not in _NOT_ERRORS
    return b"".join((
        fixed64(_LOG_TIME, ts),
        _LOG_SEVERITY + varint(_SEVERITY_WARN if failed else _SEVERITY_INFO),
        message(_LOG_SEVERITY_TEXT, b"WARN" if failed else b"INFO"),
        message(_LOG_BODY, message(_STRING_VALUE, row_json.encode())),
        _LOG_ATTRS((("event.name", "routecar.route_row"), ("routecar.request_id", record.request_id),
                    ("routecar.outcome", record.outcome)), _LOG_REPEATED),
        message(_LOG_TRACE_ID, bytes.fromhex(trace_id)) if trace_id else b"",
        message(_LOG_SPAN_ID, bytes.fromhex(span_id)) if span_id else b"",
        fixed64(_LOG_OBSERVED, ts + int(record.latency_ms * 1e6)),
    ))


def logs_request(records: list[bytes], service: str) -> bytes:
    """An ExportLogsServiceRequest: one ResourceLogs, one ScopeLogs holding `records`."""
    scope_logs = _SCOPE + b"".join(message(_SECOND, r) for r in records)
    resource_logs = message(_FIRST, _resource(service)) + message(_SECOND, scope_logs)
    return message(_FIRST, resource_logs)
