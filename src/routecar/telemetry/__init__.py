"""OpenTelemetry export of finished route records (spans, and route rows as logs or stdout).

Nothing here runs on the request path: records arrive through `TelemetryExporter.submit`
(a deque append) and everything else happens in a background task and a worker thread.
The protobuf modules are imported only when a sidecar's config has a `telemetry` section.
"""
