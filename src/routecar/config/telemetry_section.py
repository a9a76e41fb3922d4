"""The `telemetry` section: OpenTelemetry spans and route rows sent on to a collector."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from .fields import Issues
from .kinds import INVALID, Duration, Enum, Number
from .model import ROUTE_ROWS, OtlpConfig, TelemetryConfig
from .providers_section import HEADERS, BaseUrl
from .shapes import Key, Object


OTLP = Object(
    Key("endpoint", BaseUrl(), "the collector's OTLP/HTTP base URL (traces to /v1/traces, logs to /v1/logs)",
        required=True),
    Key("headers", HEADERS, "headers sent with every export, e.g. an auth header (${ENV} allowed)"),
    Key("sample_ratio", Number(min=0.0, max=1.0), "share of traces exported, decided per trace id"),
    Key("timeout", Duration(positive=True, max=60.0, why="an export waits no longer on the collector"),
        "longest one export request waits for the collector"),
    defaults=OtlpConfig,
    name="otlp",
)

TELEMETRY = Object(
    Key("otlp", OTLP, "the OpenTelemetry collector spans (and otlp_logs rows) go to (left out: no spans)"),
    Key("route_rows", Enum(ROUTE_ROWS),
        "each route row also as one JSON line on stdout, or one OTLP log record (the SQLite file stays)"),
    defaults=TelemetryConfig,
    name="telemetry",
    example="""\
telemetry:
  otlp:
    endpoint: http://otel-collector.observability:4318
    headers: {authorization: "Bearer ${OTEL_TOKEN}"}
    sample_ratio: 1.0
  route_rows: none
""",
)


def build_telemetry(issues: Issues, value: Any) -> TelemetryConfig:
    if value is None:
        return TelemetryConfig()
    v = TELEMETRY.parse(value, "telemetry", issues)
    if v is INVALID:
        return TelemetryConfig()
    otlp = None
    if "otlp" in v.given and v["otlp"] is not None:
        o = v["otlp"]
        otlp = OtlpConfig(endpoint=o["endpoint"], headers=MappingProxyType(dict(o["headers"] or {})),
                          sample_ratio=float(o["sample_ratio"]), timeout=o["timeout"])
    if v["route_rows"] == "otlp_logs" and otlp is None:
        issues.error(v.path_of("route_rows"), "otlp_logs needs telemetry.otlp.endpoint")
    return TelemetryConfig(otlp=otlp, route_rows=v["route_rows"])
