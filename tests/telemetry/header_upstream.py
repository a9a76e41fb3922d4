"""An OpenAI-shaped upstream on 127.0.0.1 that records the headers of every chat request and
answers with a fixed status: 200 with a chat completion (streamed when asked), or an error."""

from __future__ import annotations

import orjson
from aiohttp import web

USAGE = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}


def _completion(model: str) -> dict:
    return {"id": "chatcmpl-h", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": USAGE}


def _chunks(model: str) -> list[bytes]:
    base = {"id": "chatcmpl-h", "object": "chat.completion.chunk", "created": 1, "model": model}
    events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
              {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE}]
    return [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


class HeaderUpstream:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.headers: list[dict[str, str]] = []  # per request, names lower-cased
        self.url = ""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        body = orjson.loads(await request.read())
        if self.status != 200:
            return web.json_response({"error": {"message": "boom", "type": "server_error"}}, status=self.status)
        if not body.get("stream"):
            return web.json_response(_completion(body.get("model", "")))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for chunk in _chunks(body.get("model", "")):
            await resp.write(chunk)
        await resp.write_eof()
        return resp
