"""The control API under /_fake/: switch faults and read counters while the fake runs."""

from __future__ import annotations

import orjson
from aiohttp import web

from .errors import JSON
from .state import STATE


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(payload), content_type=JSON)


async def get_faults(request: web.Request) -> web.Response:
    return _json({"faults": request.app[STATE].faults.describe()})


async def set_faults(request: web.Request) -> web.Response:
    raw = await request.read()
    try:
        spec = orjson.loads(raw) if raw.strip() else None
        request.app[STATE].faults.replace(spec)
    except (orjson.JSONDecodeError, ValueError) as exc:
        return _json({"error": str(exc)}, status=400)
    return _json({"faults": request.app[STATE].faults.describe()})


async def reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.faults.clear()
    state.stats.reset()
    return _json({"ok": True})


async def stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE].stats.snapshot())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_fake/faults", get_faults)
    app.router.add_post("/_fake/faults", set_faults)
    app.router.add_post("/_fake/reset", reset)
    app.router.add_get("/_fake/stats", stats)
