"""`own_answer_headers`: the application's headers on every answer the server writes itself
(404, 405, 500, refusals), given the request when there is one; a bad hook never breaks one."""

from __future__ import annotations

import logging
from typing import Mapping

import pytest

from routecar.http1.server import Request, Response

from .wire import ServeFactory, closed, echo, read_reply


def request_id(request: Request | None) -> Mapping[str, str]:
    if request is None:
        return {"X-Routecar-Request-Id": "fresh"}
    return {"X-Routecar-Request-Id": request.headers.get("x-routecar-request-id", "fresh"), "X-Path": request.path}


async def boom(request: Request) -> Response:
    raise RuntimeError("endpoint bug")


ROUTES = {"/echo": {"GET": echo}, "/boom": {"GET": boom}}


@pytest.mark.parametrize("raw,status", [
    (b"GET /nowhere HTTP/1.1\r\nX-Routecar-Request-Id: r-404\r\n\r\n", 404),
    (b"DELETE /echo HTTP/1.1\r\nX-Routecar-Request-Id: r-405\r\n\r\n", 405),
    (b"GET /boom HTTP/1.1\r\nX-Routecar-Request-Id: r-500\r\n\r\n", 500),
    (b"POST /echo HTTP/1.1\r\nX-Routecar-Request-Id: r-501\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST /echo HTTP/1.1\r\nX-Routecar-Request-Id: r-400\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
])
async def test_the_hook_sees_the_request_of_every_answer_the_server_writes(serve: ServeFactory, raw: bytes,
                                                                           status: int) -> None:
    served = await serve(ROUTES, own_answer_headers=request_id)
    reply, _, _ = await served.ask(raw)
    assert reply.status == status
    assert reply.headers["X-Routecar-Request-Id"] == f"r-{status}"
    assert reply.headers["X-Path"] in ("/nowhere", "/echo", "/boom")


@pytest.mark.parametrize("raw,status", [
    (b"GET /echo HTTP/1.1\r\nX-Routecar-Request-Id: a\x00b\r\n\r\n", 400),
    (b"GET /echo HTTP/1.1\r\n" + b"X-F: f\r\n" * 101 + b"\r\n", 431),
    (b"GET /" + b"u" * (9 << 10) + b" HTTP/1.1\r\n\r\n", 414),
])
async def test_a_refusal_before_any_head_gets_the_hook_without_a_request(serve: ServeFactory, raw: bytes,
                                                                         status: int) -> None:
    served = await serve(ROUTES, own_answer_headers=request_id)
    reply, reader, _ = await served.ask(raw)
    assert reply.status == status and reply.headers["X-Routecar-Request-Id"] == "fresh"
    assert "X-Path" not in reply.headers
    assert await closed(reader)


async def test_an_endpoints_own_answer_is_left_alone(serve: ServeFactory) -> None:
    served = await serve(ROUTES, own_answer_headers=request_id)
    reply, _, _ = await served.ask(b"GET /echo HTTP/1.1\r\n\r\n")
    assert reply.status == 200 and "X-Routecar-Request-Id" not in reply.headers


async def test_the_servers_own_headers_win_and_framing_is_never_the_hooks(serve: ServeFactory) -> None:
    def greedy(request: Request | None) -> Mapping[str, str]:
        return {"content-type": "text/html", "Content-Length": "1", "Connection": "upgrade", "allow": "ALL",
                "X-Extra": "kept"}

    served = await serve(ROUTES, own_answer_headers=greedy)
    reply, reader, writer = await served.ask(b"POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    assert reply.status == 405 and reply.headers["X-Extra"] == "kept"
    assert reply.headers.getall("Content-Type") == ["application/json"]
    assert reply.headers.getall("Allow") == ["GET, HEAD"]
    assert "Connection" not in reply.headers and reply.json()["error"]["code"] == "method_not_allowed"
    writer.write(b"GET /echo HTTP/1.1\r\n\r\n")
    assert (await read_reply(reader)).status == 200  # the framing was the server's: the socket is in step


@pytest.mark.parametrize("bad", [
    {"X-Bad": "a\r\nSet-Cookie: b"}, {"X-Bad": "a\x00b"}, {"X-Bad": "\x7f"}, {"X Bad": "v"}, {"X-Bad": "ルート"},
    {"": "v"}, {b"X-Bytes": "v"}, {"X-Num": 7},
])
async def test_a_header_that_cannot_be_sent_is_left_out(serve: ServeFactory, caplog: pytest.LogCaptureFixture,
                                                        bad: Mapping[object, object]) -> None:
    def hook(request: Request | None) -> Mapping[str, str]:
        return {"X-Good": "yes", **bad}  # type: ignore[dict-item]

    served = await serve(ROUTES, own_answer_headers=hook)
    with caplog.at_level(logging.WARNING, "routecar.server"):
        reply, _, _ = await served.ask(b"GET /nowhere HTTP/1.1\r\n\r\n")
    assert reply.status == 404 and reply.headers["X-Good"] == "yes"
    assert b"Set-Cookie" not in reply.raw_head and b"\x00" not in reply.raw_head and b"\x7f" not in reply.raw_head
    if "X-Num" in bad:
        assert reply.headers["X-Num"] == "7"  # formatted like any answer header
    else:
        assert "cannot be sent" in caplog.text


async def test_a_hook_that_raises_still_leaves_a_clean_answer(serve: ServeFactory,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request | None) -> Mapping[str, str]:
        raise KeyError("hook bug")

    served = await serve(ROUTES, own_answer_headers=broken)
    with caplog.at_level(logging.ERROR, "routecar.server"):
        reply, _, _ = await served.ask(b"GET /nowhere HTTP/1.1\r\n\r\n")
        refusal, _, _ = await served.ask(b"GET /echo HTTP/1.1\r\nX: \x01\r\n\r\n")
    assert reply.status == 404 and reply.json()["error"]["code"] == "not_found"
    assert refusal.status == 400 and b"hook bug" not in refusal.body
    assert "own_answer_headers failed" in caplog.text
