"""Hostile request heads from the app's side (row 6 of the hardening issue), over a raw socket so
the exact bytes are sent: control bytes in header values and non-token header names get a
400, more than ~100 headers a 431; nothing of a refused header is echoed in the answer or stored
in the route log. An app's request id is echoed (and stored) only when it is made of safe
characters; otherwise the request is served under a fresh id.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Iterator

import orjson
import pytest

from tests.hostile.conftest import Hostile
from tests.hostile.expect import peak_rss_under_limit

pytestmark = pytest.mark.asyncio(loop_scope="module")

RAW_TIMEOUT_S = 5.0
SAFE_ID = re.compile(r"[A-Za-z0-9._:/+=@#-]{1,128}")
CONTROL = (b"\x00", b"\x01", b"\x1b", b"\x7f")


@dataclass
class RawAnswer:
    status: int
    head: bytes
    body: bytes
    headers: dict[str, str]

    @property
    def raw(self) -> bytes:
        return self.head + self.body


async def raw_chat(hostile: Hostile, header_lines: list[bytes]) -> RawAnswer:
    """One chat request (model `healthy`) with these exact extra header lines; the answer."""
    return await asyncio.wait_for(_raw_chat(hostile, header_lines), RAW_TIMEOUT_S)


async def _raw_chat(hostile: Hostile, header_lines: list[bytes]) -> RawAnswer:
    port = int(hostile.sidecar.data_url.rsplit(":", 1)[1])
    body = orjson.dumps({"model": "healthy", "messages": [{"role": "user", "content": "hi"}]})
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n" % len(body))
    head += b"".join(line + b"\r\n" for line in header_lines) + b"\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body)
        await writer.drain()
        answer_head = await reader.readuntil(b"\r\n\r\n")
        lines = answer_head[:-4].split(b"\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        if "content-length" in headers:
            answer_body = await reader.readexactly(int(headers["content-length"]))
        else:
            answer_body = await reader.read()  # to EOF (Connection: close)
        return RawAnswer(int(lines[0].split(b" ")[1]), answer_head, answer_body, headers)
    finally:
        writer.close()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


async def rows_after_sentinel(hostile: Hostile) -> list[dict[str, Any]]:
    """Every row so far, once a normal request sent now has its row (rows land in order)."""
    ans = await hostile.chat("healthy")
    assert ans.status == 200
    assert await hostile.row(ans.rid) is not None, "the sentinel request's row never landed"
    return hostile.rows()


BAD_HEADERS = [
    pytest.param(b"x-routecar-request-id: ridnul\x00tail", b"ridnul", id="nul-in-request-id"),
    pytest.param(b"x-routecar-request-id: ridctl\x01tail", b"ridctl", id="ctl-in-request-id"),
    pytest.param(b"x-routecar-tags: team=tagesc\x1bx", b"tagesc", id="esc-in-tags"),
    pytest.param(b"x-routecar-request-id: riddel\x7ftail", b"riddel", id="del-in-request-id"),
    pytest.param(b"x-evil(name): hdrparen", b"hdrparen", id="non-token-name"),
    pytest.param(b"x-evil name: hdrspace", b"hdrspace", id="space-in-name"),
]


@pytest.mark.parametrize(("line", "marker"), BAD_HEADERS)
async def test_bad_header_is_refused_and_not_echoed(hostile: Hostile, line: bytes, marker: bytes) -> None:
    ans = await raw_chat(hostile, [line])
    assert ans.status == 400, ans.raw[:500]
    assert marker not in ans.raw, f"the refused header was echoed: {ans.raw[:500]!r}"
    for byte in CONTROL:
        assert byte not in ans.raw, f"a control byte {byte!r} is in the answer: {ans.raw[:500]!r}"
    assert b"Traceback" not in ans.raw
    for row in await rows_after_sentinel(hostile):
        for text in _strings(row):
            assert marker.decode() not in text, f"the refused header is stored in a route row: {row}"
            assert not any(byte.decode() in text for byte in CONTROL), f"a control byte is stored: {row}"


async def test_too_many_headers_get_431(hostile: Hostile) -> None:
    ans = await raw_chat(hostile, [b"x-filler-%d: filler" % i for i in range(150)])
    assert ans.status == 431, ans.raw[:500]
    assert b"x-filler" not in ans.raw.lower()


async def test_safe_request_id_is_echoed_and_stored(hostile: Hostile) -> None:
    rid = "app-req.42_x:7"
    ans = await raw_chat(hostile, [b"x-routecar-request-id: " + rid.encode()])
    assert ans.status == 200, ans.raw[:500]
    assert ans.headers.get("x-routecar-request-id") == rid
    assert await hostile.row(rid) is not None, "no route-log row under the app's request id"


UNSAFE_IDS = [
    pytest.param(b"idangle<script>", id="angle-brackets"),
    pytest.param(b'idquote"x', id="quote"),
    pytest.param(b"idspace x", id="space"),
    pytest.param(b"idsemi;x=1", id="semicolon"),
    pytest.param(b"idlatin\xe9\xff", id="non-ascii"),
]


@pytest.mark.parametrize("given", UNSAFE_IDS)
async def test_unsafe_request_id_is_replaced(hostile: Hostile, given: bytes) -> None:
    """Legal header bytes, unsafe to reflect: served under a fresh, safe id."""
    ans = await raw_chat(hostile, [b"x-routecar-request-id: " + given])
    assert ans.status == 200, ans.raw[:500]
    echoed = ans.headers.get("x-routecar-request-id", "")
    assert SAFE_ID.fullmatch(echoed), f"unsafe request id in the answer: {echoed!r}"
    assert given[:6] not in ans.head, f"the unsafe id was echoed: {ans.head!r}"
    row = await hostile.row(echoed)
    assert row is not None, f"no route-log row under the fresh id {echoed!r}"
    assert SAFE_ID.fullmatch(row["request_id"]), row["request_id"]


async def test_zz_peak_rss_of_the_whole_module(hostile: Hostile) -> None:
    peak_rss_under_limit(hostile)
