"""A local upstream that records every request it gets (path, query, headers, body bytes) and
answers with canned Anthropic and OpenAI bodies rich in what translation would lose: thinking
blocks with signatures, cache usage, citations, pings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import orjson
import pytest
from aiohttp import web

THINKING = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc=="}
TEXT = {"type": "text", "text": "Paris.", "citations": None}
USAGE = {"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 1000,
         "cache_read_input_tokens": 2000, "service_tier": "standard"}
# Pretty-printed and with unknown fields: re-serializing would change the bytes.
MESSAGE = orjson.dumps({"id": "msg_rec1", "type": "message", "role": "assistant", "model": "up-0",
                        "content": [THINKING, TEXT], "stop_reason": "end_turn", "stop_sequence": None,
                        "usage": USAGE, "x_vendor_extra": {"kept": True}}, option=orjson.OPT_INDENT_2)


def _ev(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


STREAM_EVENTS = [
    _ev("message_start", {"type": "message_start", "message": {
        "id": "msg_rec2", "type": "message", "role": "assistant", "model": "up-0", "content": [],
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1, "cache_creation_input_tokens": 1000,
                  "cache_read_input_tokens": 2000}}}),
    _ev("content_block_start", {"type": "content_block_start", "index": 0,
                                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
    _ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                "delta": {"type": "thinking_delta", "thinking": "Let me think."}}),
    _ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                "delta": {"type": "signature_delta", "signature": "sig-abc=="}}),
    _ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
    _ev("ping", {"type": "ping"}),
    _ev("content_block_start", {"type": "content_block_start", "index": 1,
                                "content_block": {"type": "text", "text": ""}}),
    _ev("content_block_delta", {"type": "content_block_delta", "index": 1,
                                "delta": {"type": "text_delta", "text": "Paris."}}),
    _ev("content_block_stop", {"type": "content_block_stop", "index": 1}),
    _ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                          "usage": {"output_tokens": 7}}),
    _ev("message_stop", {"type": "message_stop"}),
]


RESPONSE = orjson.dumps({
    "id": "resp_rec", "object": "response", "created_at": 1, "status": "completed", "model": "up-1",
    "output": [{"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "opaque=="},
               {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": "hi", "annotations": []}]}],
    "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 2}, "output_tokens": 3,
              "output_tokens_details": {"reasoning_tokens": 1}, "total_tokens": 8},
    "x_vendor_extra": {"kept": True}}, option=orjson.OPT_INDENT_2)
RESPONSE_EVENTS = [
    _ev("response.created", {"type": "response.created", "sequence_number": 0, "response": {
        "id": "resp_rec", "object": "response", "status": "in_progress", "model": "up-1", "output": []}}),
    _ev("response.reasoning_summary_text.delta", {"type": "response.reasoning_summary_text.delta",
                                                  "sequence_number": 1, "item_id": "rs_1", "output_index": 0,
                                                  "summary_index": 0, "delta": "hmm"}),
    _ev("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 2,
                                       "item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "hi"}),
    _ev("response.completed", {"type": "response.completed", "sequence_number": 3, "response": {
        "id": "resp_rec", "object": "response", "status": "completed", "model": "up-1", "output": [],
        "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}}}),
]


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Recorder:
    url: str = ""
    seen: list[Seen] = field(default_factory=list)

    def last(self, path: str) -> Seen:
        return [s for s in self.seen if s.path == path][-1]


def recording_app(rec: Recorder) -> web.Application:
    async def record(request: web.Request) -> bytes:
        body = await request.read()
        rec.seen.append(Seen(request.path, request.query_string, {k.lower(): v for k, v in request.headers.items()},
                             body))
        return body

    async def messages(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await record(request))
        if not body.get("stream"):
            return web.Response(body=MESSAGE, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in STREAM_EVENTS:
            await resp.write(event)
        await resp.write_eof()
        return resp

    async def count_tokens(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"input_tokens": 4242})

    async def chat(request: web.Request) -> web.Response:
        body = orjson.loads(await record(request))
        return web.json_response({
            "id": "chatcmpl-rec", "object": "chat.completion", "created": 1, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})

    async def responses(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await record(request))
        if not body.get("stream"):
            return web.Response(body=RESPONSE, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in RESPONSE_EVENTS:
            await resp.write(event)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_post("/v1/chat/completions", chat)
    return app


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    runner = web.AppRunner(recording_app(rec), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield rec
    await runner.cleanup()
