"""Sending a server-sent-event stream, with the stream faults applied.

Every dialect hands over the same three runs of prebuilt frames: the preamble (no content yet),
the content frames (what delays, cuts and stalls count), and the tail (finish reason, usage,
terminator). Keeping the fault mechanics here means each dialect only renders frames.

A hostile body fault (a gzip bomb, endless comments, an unterminated event) takes precedence
over the cut and stall faults: it sends a few valid content frames, then never ends properly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from .conn import bounded, hang_up, wait_client_gone
from .endless import UNTERMINATED_OPENING, endless_comments, endless_line
from .faults import Fault
from .gzip_bomb import write_bomb
from .sinks import Sink, sink_for

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
}

# What a confused upstream or a meddling proxy sends instead of well-formed events.
GARBAGE_FRAMES = (
    b'data: {"id": "broken", "choices": [{"delta": {"content": "Hel\n\n',
    b"data: <html><body>502 Bad Gateway</body></html>\n\n",
    b"event: ???\ndata: \x00\x01not json at all\n\n",
)


@dataclass(slots=True)
class StreamPlan:
    head: list[bytes]
    body: list[bytes]
    tail: list[bytes]
    error_frame: bytes  # the dialect's in-stream error event


async def send_stream(request: web.Request, plan: StreamPlan, fault: Fault | None,
                      chunk_delay_ms: float, headers: dict[str, str] | None = None) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers=SSE_HEADERS)
    if headers:
        resp.headers.update(headers)
    if fault is None:
        try:
            await resp.prepare(request)
            await _write(request, resp, resp, plan, None, chunk_delay_ms)
        except ConnectionError:
            # The client left mid-stream; there is nobody to answer.
            pass
        return resp
    if fault.gzip_bomb:
        resp.headers["Content-Encoding"] = "gzip"
    async with bounded(request, fault.cap_seconds):
        await resp.prepare(request)
        out = sink_for(resp, fault)
        if fault.breaks_body:
            await _write_hostile(resp, out, plan, fault)
        else:
            await _write(request, resp, out, plan, fault, chunk_delay_ms)
    return resp


async def _write_hostile(resp: web.StreamResponse, out: Sink, plan: StreamPlan, fault: Fault) -> None:
    """A stream that starts well, then turns into a bomb, endless comments or an endless line."""
    if fault.gzip_bomb:
        lead = b"".join((*plan.head, *plan.body[:fault.gzip_bomb_after_chunks]))
        await write_bomb(out, lead, fault.bomb_mib)
        await resp.write_eof()  # a complete gzip body, with no event boundary after the lead
        return
    after = fault.endless_comments_after_chunks if fault.endless_comments else fault.unterminated_after_chunks
    lead = b"".join((*plan.head, *plan.body[:after]))
    if fault.endless_comments:
        if lead:
            await out.write(lead)
        await endless_comments(out, fault.comment_interval_ms / 1000.0)
    else:
        await out.write(lead + UNTERMINATED_OPENING)
        await endless_line(out)


async def _write(request: web.Request, resp: web.StreamResponse, out: Sink, plan: StreamPlan,
                 fault: Fault | None, chunk_delay_ms: float) -> None:
    if fault is not None and fault.chunk_delay_ms is not None:
        chunk_delay_ms = fault.chunk_delay_ms
    if fault is None and not chunk_delay_ms:
        # Hot path: one write, one syscall for the whole answer.
        await out.write(b"".join((*plan.head, *plan.body, *plan.tail)))
        await resp.write_eof()
        return
    if fault is not None and fault.malformed:
        await out.write(b"".join(GARBAGE_FRAMES))
        await resp.write_eof()
        return
    if plan.head:
        await out.write(b"".join(plan.head))
    if fault is not None and fault.empty_preamble_then_fail:
        # Providers end a stream cleanly after an error event; "close" drops the line instead.
        if fault.empty_preamble_then_fail == "close":
            hang_up(request)
        else:
            await out.write(plan.error_frame)
            await resp.write_eof()
        return
    if fault is not None and fault.first_token_delay_ms:
        await asyncio.sleep(fault.first_token_delay_ms / 1000.0)
    # A cut or stall at (or past) the last content frame still withholds the finish and [DONE].
    limit, action = len(plan.body), None
    if fault is not None and fault.disconnect_after_chunks is not None and fault.disconnect_after_chunks <= limit:
        limit, action = fault.disconnect_after_chunks, "cut"
    if fault is not None and fault.stall_after_chunks is not None and fault.stall_after_chunks <= limit:
        limit, action = fault.stall_after_chunks, "stall"
    delay_s = chunk_delay_ms / 1000.0
    for i in range(limit):
        if i and delay_s:
            await asyncio.sleep(delay_s)
        await out.write(plan.body[i])
    if action is not None and fault is not None:
        if action == "stall":
            await wait_client_gone(request, fault.hang_seconds)
        hang_up(request)
        return
    if delay_s and plan.body:
        await asyncio.sleep(delay_s)
    await out.write(b"".join(plan.tail))
    await resp.write_eof()
