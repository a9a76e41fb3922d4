"""Real clients against the server: aiohttp's ClientSession, the openai SDK, and chunked
round trips of arbitrary bodies cut at arbitrary places."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import orjson
from hypothesis import HealthCheck, given, settings, strategies as st

from routecar.http1.server import Request, Response, Server, StreamResponse

from .wire import ServeFactory, echo, read_reply

COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def delta(content: str, finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "m",
             "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def chat(request: Request) -> Response | StreamResponse:
    body = orjson.loads(await request.read())
    if not body.get("stream"):
        answer = dict(COMPLETION, model=body["model"])
        return Response(200, orjson.dumps(answer), {"x-seen-auth": request.headers["Authorization"][:9]},
                        content_type="application/json")
    resp = StreamResponse(200, {"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for word in ("one ", "two ", "three"):
        await resp.write(delta(word))
    await resp.write(delta("", "stop"))
    await resp.write(b"data: [DONE]\n\n")
    return resp


async def test_openai_sdk_unary_and_streaming(serve: ServeFactory) -> None:
    served = await serve({"/v1/chat/completions": {"POST": chat}})
    async with openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="sk-test", max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-x", messages=[{"role": "user", "content": "hello"}])
        completion = raw.parse()
        assert completion.choices[0].message.content == "hi there" and completion.model == "gpt-x"
        assert raw.headers["x-seen-auth"] == "Bearer sk"
        stream = await client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hello"}], stream=True)
        words = [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
        assert "".join(words) == "one two three"
    assert len(served.server.connections) <= 1  # the SDK reused one keep-alive connection


async def test_aiohttp_client_session_reuses_the_connection(serve: ServeFactory) -> None:
    served = await serve({"/echo": {"GET": echo, "POST": echo}})
    async with aiohttp.ClientSession() as session:
        for i in range(10):
            async with session.post(served.url + f"/echo?i={i}", data=b"x" * i * 100) as resp:
                seen = await resp.json()
                assert (resp.status, seen["query"], len(seen["body"])) == (200, f"i={i}", i * 100)
        async with session.head(served.url + "/echo") as resp:
            assert resp.status == 200 and int(resp.headers["Content-Length"]) > 0
        async with session.get(served.url + "/missing") as resp:
            assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"

        async def chunks():  # an async generator body: aiohttp sends it chunked
            for piece in (b"ab", b"cd", b"ef"):
                yield piece

        async with session.post(served.url + "/echo", data=chunks()) as resp:
            assert (await resp.json())["body"] == "abcdef"
        assert len(served.server.connections) == 1


async def test_many_concurrent_clients(serve: ServeFactory) -> None:
    served = await serve({"/echo": {"POST": echo}})
    async with aiohttp.ClientSession() as session:
        async def one(i: int) -> str:
            async with session.post(served.url + "/echo", data=str(i).encode()) as resp:
                return (await resp.json())["body"]
        assert await asyncio.gather(*(one(i) for i in range(50))) == [str(i) for i in range(50)]


async def _round_trip(pieces: list[bytes], ext: bytes, trailers: bytes, cuts: list[int]) -> bytes:
    server = Server({"/echo": {"POST": echo}}, {}, lambda: 1 << 20)
    port = await server.listen("127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        raw = (b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"".join(b"%x%b\r\n%b\r\n" % (len(p), ext, p) for p in pieces) + b"0\r\n" + trailers + b"\r\n")
        at = 0
        for cut in sorted(set(cuts)) + [len(raw)]:
            if cut > at:
                writer.write(raw[at:cut])
                await writer.drain()
                await asyncio.sleep(0)
                at = cut
        reply = await read_reply(reader)
        writer.close()
        return reply.json()["body"].encode("latin-1")
    finally:
        await server.shutdown(0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.binary(min_size=1, max_size=300), max_size=8),
       ext=st.sampled_from([b"", b";a=b", b";name=\"q\";flag"]),  # whitespace before ";": test_refusals
       trailers=st.sampled_from([b"", b"X-T: 1\r\n", b"A: 1\r\nB: 2\r\n"]),
       cuts=st.lists(st.integers(min_value=1, max_value=3000), max_size=10))
def test_chunked_bodies_round_trip_whatever_the_cuts(pieces: list[bytes], ext: bytes, trailers: bytes,
                                                     cuts: list[int]) -> None:
    assert asyncio.run(_round_trip(pieces, ext, trailers, cuts)) == b"".join(pieces)
