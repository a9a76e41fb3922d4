"""Admin plane: liveness, readiness, Prometheus metrics and the live health state.

These answer from memory only, so probes stay fast even while the data plane is busy.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from .errors import JSON
from .keys import RUNTIME


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type=JSON)


async def readyz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    problems = []
    if rt.draining:
        problems.append("draining")
    if not rt.writer.writable:
        problems.append("route log not writable")
    if problems:
        return web.Response(status=503, body=orjson.dumps({"status": "not ready", "problems": problems}),
                            content_type=JSON)
    return web.Response(body=orjson.dumps({"status": "ready", "config_hash": rt.snapshot.config.hash}),
                        content_type=JSON)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[RUNTIME].metrics.render()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = content_type
    return resp


async def state(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    payload = rt.health.snapshot()
    payload["config_hash"] = rt.snapshot.config.hash
    payload["draining"] = rt.draining
    payload["in_flight_requests"] = rt.in_flight
    payload["route_log"] = {"queue_depth": rt.writer.queue_depth, "dropped": rt.writer.dropped,
                            "written": rt.writer.written}
    features = getattr(rt, "features", None)
    if features is not None:
        payload.update(features.snapshot(rt.snapshot.config))
    return web.Response(body=orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS),
                        content_type=JSON)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/state", state)
