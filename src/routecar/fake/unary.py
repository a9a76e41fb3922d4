"""Sending a whole (non-streamed) answer, with the faults that tamper with its body applied.

Every dialect's unary answers (completions, embeddings, token counts, model lists) end here, so
a bomb, an endless body or a trickle reaches each of them the same way.
"""

from __future__ import annotations

from aiohttp import web

from .conn import bounded
from .endless import endless_line, endless_whitespace
from .errors import JSON
from .faults import Fault
from .gzip_bomb import write_bomb
from .sinks import Sink, sink_for


def json_start(payload: bytes) -> bytes:
    """The answer up to the opening quote of its first string value, so the filler that
    follows reads as one string that never closes (or, with no string, the object unclosed)."""
    cut = payload.find(b'":"')
    return payload[:cut + 3] if cut >= 0 else payload[:-1]


async def send_unary(request: web.Request, fault: Fault | None, payload: bytes,
                     headers: dict[str, str] | None = None, content_type: str = JSON) -> web.StreamResponse:
    if fault is None or not fault.replaces_body:
        return web.Response(body=payload, content_type=content_type, headers=headers)
    resp = web.StreamResponse(status=200, headers=headers)
    resp.content_type = content_type
    if fault.gzip_bomb:
        resp.headers["Content-Encoding"] = "gzip"
    if fault.breaks_body:
        # No length can be announced for these: the body's end is the fault's to decide.
        resp.enable_chunked_encoding()
    else:
        resp.content_length = len(payload)  # a trickle is slow, not malformed
    async with bounded(request, fault.cap_seconds):
        await resp.prepare(request)
        await _write_body(sink_for(resp, fault), payload, fault)
        await resp.write_eof()
    return resp


async def _write_body(out: Sink, payload: bytes, fault: Fault) -> None:
    if fault.gzip_bomb:
        await write_bomb(out, json_start(payload), fault.bomb_mib)
    elif fault.unterminated_event:
        await out.write(json_start(payload))
        await endless_line(out)
    elif fault.endless_comments:
        await endless_whitespace(out, fault.comment_interval_ms / 1000.0)
    else:
        await out.write(payload)
