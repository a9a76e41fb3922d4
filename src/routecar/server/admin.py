"""Admin plane: liveness, readiness, Prometheus metrics and the live health state.

These answer from memory only, so probes stay fast even while the data plane is busy.
"""

from __future__ import annotations

import orjson
from ..http1.server import Handler, Request, Response

from .errors import JSON
from .keys import RUNTIME


async def healthz(request: Request) -> Response:
    return Response(200, b'{"status":"ok"}', content_type=JSON)


async def readyz(request: Request) -> Response:
    rt = request.app[RUNTIME]
    problems = []
    if rt.draining:
        problems.append("draining")
    if not rt.writer.writable:
        problems.append("route log not writable")
    if problems:
        return Response(503, orjson.dumps({"status": "not ready", "problems": problems}), content_type=JSON)
    return Response(200, orjson.dumps({"status": "ready", "config_hash": rt.generation.config.hash}), content_type=JSON)


async def metrics(request: Request) -> Response:
    body, content_type = request.app[RUNTIME].metrics.render()
    return Response(200, body, content_type=content_type)


async def state(request: Request) -> Response:
    rt = request.app[RUNTIME]
    payload = rt.health.snapshot()
    payload["config_hash"] = rt.generation.config.hash
    payload["draining"] = rt.draining
    payload["in_flight_requests"] = rt.in_flight
    payload["route_log"] = {"queue_depth": rt.writer.queue_depth, "dropped": rt.writer.dropped,
                            "written": rt.writer.written}
    payload.update(rt.routing_state.state(rt.generation.config))
    shared = rt.shared_state_view()
    if shared is not None:
        payload["shared_state"] = shared
    return Response(200, orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS),
                    content_type=JSON)


ROUTES: dict[str, dict[str, Handler]] = {
    "/healthz": {"GET": healthz},
    "/readyz": {"GET": readyz},
    "/metrics": {"GET": metrics},
    "/state": {"GET": state},
}
