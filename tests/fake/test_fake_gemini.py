"""The Gemini dialect, over a plain aiohttp client."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from routecar.fake.embed import embed_text
from routecar.fake.server import FakeProvider

MODEL = "gemini-test"
ASK = {"contents": [{"role": "user", "parts": [{"text": "Explain circuit breakers"}]}],
       "systemInstruction": {"parts": [{"text": "be brief"}]}}
TOOLS = [{"functionDeclarations": [{"name": "search", "parameters": {
    "type": "OBJECT", "properties": {"query": {"type": "STRING"}, "limit": {"type": "INTEGER"}}}}]}]


def _url(fake: FakeProvider, method: str, query: str = "") -> str:
    return f"{fake.url}/v1beta/models/{MODEL}:{method}{query}"


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_generate_content(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    status, body = await _post(http, _url(fake, "generateContent"), ASK)
    assert status == 200
    cand = body["candidates"][0]
    assert cand["finishReason"] == "STOP" and cand["content"]["role"] == "model"
    text = cand["content"]["parts"][0]["text"]
    assert text.startswith("Fake answer from a: explain circuit breakers")
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == len(text.split())
    assert usage["promptTokenCount"] == (len("be brief") + len("Explain circuit breakers") + 3) // 4
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert body["modelVersion"] == MODEL
    assert fake.stats()["by_path"] == {f"/v1beta/models/{MODEL}:generateContent": 1}


async def test_stream_sse(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    async with http.post(_url(fake, "streamGenerateContent", "?alt=sse"), json=ASK) as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        raw = await resp.text()
    assert "[DONE]" not in raw
    events = [json.loads(f.removeprefix("data: ")) for f in raw.split("\r\n\r\n") if f]
    assert len(events) == 8
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    text = "".join(e["candidates"][0]["content"]["parts"][0]["text"] for e in events)
    _, whole = await _post(http, _url(fake, "generateContent"), ASK)
    assert text == whole["candidates"][0]["content"]["parts"][0]["text"]
    assert events[-1]["usageMetadata"] == whole["usageMetadata"]


async def test_stream_without_sse_is_a_json_array(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    status, body = await _post(http, _url(fake, "streamGenerateContent"), ASK)
    assert status == 200 and isinstance(body, list) and len(body) == 8


async def test_function_call(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    forced = dict(ASK, tools=TOOLS, toolConfig={"functionCallingConfig": {"mode": "ANY"}})
    _, body = await _post(http, _url(fake, "generateContent"), forced)
    call = body["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "search" and isinstance(call["args"]["query"], str) and call["args"]["limit"] == 1
    by_word = {"contents": [{"role": "user", "parts": [{"text": "call the search tool"}]}], "tools": TOOLS}
    _, body = await _post(http, _url(fake, "generateContent"), by_word)
    assert "functionCall" in body["candidates"][0]["content"]["parts"][0]
    answered = {"tools": TOOLS, "contents": [
        {"role": "user", "parts": [{"text": "call the search tool"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "search", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "search", "response": {"hits": 0}}}]},
    ]}
    _, body = await _post(http, _url(fake, "generateContent"), answered)
    assert "text" in body["candidates"][0]["content"]["parts"][0]


async def test_max_tokens_json_and_safety(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    short = dict(ASK, generationConfig={"maxOutputTokens": 2})
    _, body = await _post(http, _url(fake, "generateContent"), short)
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"
    as_json = dict(ASK, generationConfig={"responseMimeType": "application/json", "responseSchema": {
        "type": "OBJECT", "properties": {"verdict": {"type": "BOOLEAN"}}}})
    _, body = await _post(http, _url(fake, "generateContent"), as_json)
    assert json.loads(body["candidates"][0]["content"]["parts"][0]["text"]) == {"verdict": True}
    fake.set_faults({"safety": True, "count": 1})
    _, body = await _post(http, _url(fake, "generateContent"), ASK)
    cand = body["candidates"][0]
    assert cand["finishReason"] == "SAFETY" and "content" not in cand


async def test_embeddings(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    one = {"content": {"parts": [{"text": "refund my order"}]}}
    _, body = await _post(http, _url(fake, "embedContent"), one)
    assert body["embedding"]["values"] == embed_text("refund my order")
    batch = {"requests": [{"model": f"models/{MODEL}", "content": {"parts": [{"text": t}]},
                           "outputDimensionality": 8} for t in ("a b", "c d")]}
    _, body = await _post(http, _url(fake, "batchEmbedContents"), batch)
    assert [e["values"] for e in body["embeddings"]] == [embed_text("a b", 8), embed_text("c d", 8)]


async def test_errors_in_google_shape(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    status, body = await _post(http, _url(fake, "generateContent"), {"contents": []})
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT" and body["error"]["code"] == 400
    fake.set_faults({"status": 429, "retry_after": 7})
    status, body = await _post(http, _url(fake, "generateContent"), ASK)
    assert status == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert body["error"]["details"][0]["retryDelay"] == "7s"
    fake.set_faults({"status": 503})
    status, body = await _post(http, _url(fake, "generateContent"), ASK)
    assert (status, body["error"]["status"]) == (503, "UNAVAILABLE")
    fake.clear_faults()
    status, body = await _post(http, _url(fake, "noSuchMethod"), ASK)
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


async def test_key_by_header_or_query() -> None:
    async with FakeProvider(require_key=True) as fp, aiohttp.ClientSession() as http:
        status, body = await _post(http, _url(fp, "generateContent"), ASK)
        assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
        status, _ = await _post(http, _url(fp, "generateContent", "?key=k"), ASK)
        assert status == 200
        status, _ = await _post(http, _url(fp, "generateContent"), ASK, headers={"x-goog-api-key": "k"})
        assert status == 200


async def test_stream_cut(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults({"disconnect_after_chunks": 2, "paths": ["gemini"]})
    received = b""
    try:
        async with http.post(_url(fake, "streamGenerateContent", "?alt=sse"), json=ASK) as resp:
            async for piece in resp.content.iter_any():
                received += piece
    except aiohttp.ClientPayloadError:
        pass
    else:
        raise AssertionError("the stream ended cleanly")
    frames = [f for f in received.decode().split("\r\n\r\n") if f]
    assert len(frames) == 2 and all("finishReason" not in f for f in frames)
