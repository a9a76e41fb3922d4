"""Sending a server-sent-event stream, with the stream faults applied.

Every dialect hands over the same three runs of prebuilt frames: the preamble (no content yet),
the content frames (what delays, cuts and stalls count), and the tail (finish reason, usage,
terminator). Keeping the fault mechanics here means each dialect only renders frames.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from .conn import hang_up, wait_client_gone
from .faults import Fault

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
    try:
        await resp.prepare(request)
        await _write(request, resp, plan, fault, chunk_delay_ms)
    except ConnectionError:
        # The client left mid-stream; there is nobody to answer.
        pass
    return resp


async def _write(request: web.Request, resp: web.StreamResponse, plan: StreamPlan,
                 fault: Fault | None, chunk_delay_ms: float) -> None:
    if fault is not None and fault.chunk_delay_ms is not None:
        chunk_delay_ms = fault.chunk_delay_ms
    if fault is None and not chunk_delay_ms:
        # Hot path: one write, one syscall for the whole answer.
        await resp.write(b"".join((*plan.head, *plan.body, *plan.tail)))
        await resp.write_eof()
        return
    if fault is not None and fault.malformed:
        await resp.write(b"".join(GARBAGE_FRAMES))
        await resp.write_eof()
        return
    if plan.head:
        await resp.write(b"".join(plan.head))
    if fault is not None and fault.empty_preamble_then_fail:
        # Providers end a stream cleanly after an error event; "close" drops the line instead.
        if fault.empty_preamble_then_fail == "close":
            hang_up(request)
        else:
            await resp.write(plan.error_frame)
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
        await resp.write(plan.body[i])
    if action is not None and fault is not None:
        if action == "stall":
            await wait_client_gone(request, fault.hang_seconds)
        hang_up(request)
        return
    if delay_s and plan.body:
        await asyncio.sleep(delay_s)
    await resp.write(b"".join(plan.tail))
    await resp.write_eof()
