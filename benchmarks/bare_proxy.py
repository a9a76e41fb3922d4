"""The floor for this stack: a bare aiohttp pass-through proxy on uvloop, no routing at all.

One shared client session; the body goes upstream untouched; unary answers are read whole and
sent back, event streams are forwarded read by read, as they arrive. What routecar adds on
top of this is what the benchmark calls routecar's own cost.

    python benchmarks/bare_proxy.py --port 7320 --upstream http://127.0.0.1:7411
"""

from __future__ import annotations

import argparse

import aiohttp
import uvloop
from aiohttp import web

_HOP = ("Content-Type", "Cache-Control")
SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json"),
               "Authorization": "Bearer bare-proxy"}
    async with session.post(request.app[UPSTREAM] + request.path, data=body, headers=headers) as up:
        out = {k: up.headers[k] for k in _HOP if k in up.headers}
        if "event-stream" not in up.headers.get("Content-Type", ""):
            return web.Response(status=up.status, body=await up.read(), headers=out)
        resp = web.StreamResponse(status=up.status, headers=out)
        await resp.prepare(request)
        async for data in up.content.iter_any():  # no coalescing: write what each read brought
            await resp.write(data)
        await resp.write_eof()
        return resp


async def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")

    async def session_ctx(app: web.Application):
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_post("/v1/chat/completions", forward)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="fake upstream root, e.g. http://127.0.0.1:7411")
    args = ap.parse_args()
    uvloop.install()
    web.run_app(make_app(args.upstream), host="127.0.0.1", port=args.port, access_log=None,
                print=lambda *_: print(f"bare proxy listening on 127.0.0.1:{args.port}", flush=True))


if __name__ == "__main__":
    main()
