"""A local OTLP/HTTP collector stand-in for benchmarks/telemetry_bench.py.

    python benchmarks/otlp_sink.py --port 4318

Accepts POST /v1/traces and /v1/logs (protobuf), decodes every export request with
opentelemetry-proto (the work a real collector's receiver does) and counts spans and log
records; GET /counts answers them as JSON. Bodies above 16 MiB are refused (413).
"""

from __future__ import annotations

import argparse

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

MAX_BODY = 16 << 20


def app() -> web.Application:
    counts = {"spans": 0, "logs": 0, "trace_requests": 0, "log_requests": 0}

    async def traces(request: web.Request) -> web.Response:
        req = ExportTraceServiceRequest.FromString(await request.read())
        counts["trace_requests"] += 1
        counts["spans"] += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def logs(request: web.Request) -> web.Response:
        req = ExportLogsServiceRequest.FromString(await request.read())
        counts["log_requests"] += 1
        counts["logs"] += sum(len(sl.log_records) for rl in req.resource_logs for sl in rl.scope_logs)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def show(_: web.Request) -> web.Response:
        return web.json_response(counts)

    a = web.Application(client_max_size=MAX_BODY)
    a.router.add_post("/v1/traces", traces)
    a.router.add_post("/v1/logs", logs)
    a.router.add_get("/counts", show)
    return a


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    web.run_app(app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
