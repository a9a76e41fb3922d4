"""OpenTelemetry export of finished route records (spans, and route rows as logs or stdout).

Almost nothing here runs on the request path: with `telemetry.otlp` set, a request's trace is
decided on arrival and each upstream attempt gets a span id and a `traceparent`
(traceparent.py, stdlib only, ~2 µs a request); the finished record arrives through
`TelemetryExporter.submit` (a deque append) and everything else happens in a background task
and a worker thread. The OTLP protobuf is encoded by hand (protowire.py, otlp.py): the sidecar
imports no OpenTelemetry package (tests decode with opentelemetry-proto).
"""
