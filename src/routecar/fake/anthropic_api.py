"""The Anthropic Messages dialect: /v1/messages (whole and streamed), count_tokens, and the
/v1/models list."""

from __future__ import annotations

import secrets
from typing import Any

import orjson
from aiohttp import web

from . import content as c
from .errors import error_response, stream_error_frame
from .gate import gate, key_error, read_json, success_headers, tracked
from .state import STATE
from .stream import StreamPlan, send_stream
from .unary import send_unary

_STOP = {c.STOP: "end_turn", c.LENGTH: "max_tokens", c.TOOL: "tool_use",
         c.STOP_SEQUENCE: "stop_sequence", c.SAFETY: "refusal"}
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_TEXT_DELTA = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"text_delta","text":')
DEFAULT_MODELS = ("claude-3-5-haiku-latest", "claude-sonnet-4-20250514")
# Anthropic lists models with a creation date; the fake's are all from the same day.
_CREATED_AT = "2025-05-14T00:00:00Z"
_JSON_DELTA = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"input_json_delta","partial_json":')


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _blocks_text(content: Any) -> tuple[str, bool]:
    """Text of a message's content and whether it carries a tool result."""
    if isinstance(content, str):
        return content, False
    has_result = isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    return c.text_of(content), has_result


def _ask(body: dict[str, Any], messages: list[Any]) -> c.Ask:
    ask = c.Ask()
    chars = len(c.text_of(body.get("system")))
    has_result = False
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        text, has_result = _blocks_text(msg.get("content"))
        chars += len(text)
        if msg.get("role") == "user" and text:
            ask.last_user = text
    ask.after_tool_result = has_result
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(orjson.dumps(tools))
        ask.tools = [(t["name"], t.get("input_schema")) for t in tools
                     if isinstance(t, dict) and isinstance(t.get("name"), str)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        kind = choice.get("type")
        if kind == "any":
            ask.tool_mode = "required"
        elif kind == "tool":
            ask.tool_mode, ask.tool_name = "named", choice.get("name")
        elif kind == "none":
            ask.tool_mode = "none"
    fmt = body.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        ask.json_mode, ask.schema = True, fmt.get("schema")
    ask.max_tokens = body.get("max_tokens")
    stops = body.get("stop_sequences")
    ask.stop = [s for s in stops if isinstance(s, str)] if isinstance(stops, list) else []
    ask.prompt_chars = chars
    return ask


def _usage(answer: c.Answer) -> dict[str, int]:
    return {"input_tokens": answer.prompt_tokens, "output_tokens": answer.completion_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}


def _message(mid: str, model: str, answer: c.Answer, tool_id: str) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if answer.finish == c.TOOL:
        blocks.append({"type": "tool_use", "id": tool_id, "name": answer.tool_name, "input": answer.tool_input})
    elif answer.finish != c.SAFETY:
        blocks.append({"type": "text", "text": answer.text})
    return {"id": mid, "type": "message", "role": "assistant", "model": model, "content": blocks,
            "stop_reason": _STOP[answer.finish], "stop_sequence": answer.stop_sequence,
            "usage": _usage(answer)}


def _plan(mid: str, model: str, answer: c.Answer, tool_id: str) -> StreamPlan:
    start = {"id": mid, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None,
             "usage": {"input_tokens": answer.prompt_tokens, "output_tokens": 1,
                       "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    head = [_event("message_start", {"type": "message_start", "message": start})]
    body: list[bytes] = []
    if answer.finish == c.TOOL:
        block: dict[str, Any] | None = {"type": "tool_use", "id": tool_id, "name": answer.tool_name, "input": {}}
        body = [_JSON_DELTA + orjson.dumps(p) + b"}}\n\n" for p in answer.pieces]
    elif answer.finish == c.SAFETY:
        block = None
    else:
        block = {"type": "text", "text": ""}
        body = [_TEXT_DELTA + orjson.dumps(p) + b"}}\n\n" for p in answer.pieces]
    if block is not None:
        head.append(_event("content_block_start", {"type": "content_block_start", "index": 0,
                                                   "content_block": block}))
    head.append(_PING)
    delta = {"type": "message_delta",
             "delta": {"stop_reason": _STOP[answer.finish], "stop_sequence": answer.stop_sequence},
             "usage": {"output_tokens": answer.completion_tokens}}
    tail = ([_BLOCK_STOP] if block is not None else []) + [_event("message_delta", delta), _MESSAGE_STOP]
    return StreamPlan(head, body, tail, stream_error_frame("anthropic", 529))


def _validate(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        return "max_tokens: Field required"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    return None


@tracked
async def messages(request: web.Request) -> web.StreamResponse:
    body, err = await read_json(request, "anthropic")
    if body is None:
        return err  # type: ignore[return-value]
    problem = _validate(body)
    if problem is not None:
        return error_response("anthropic", 400, problem)
    model: str = body["model"]
    stream = body.get("stream") is True
    early, fault = await gate(request, "anthropic", model, stream)
    if early is not None:
        return early
    state = request.app[STATE]
    answer = c.compose(_ask(body, body["messages"]), state.name, state.chunks,
                       fault is not None and fault.safety)
    mid, tool_id = "msg_" + secrets.token_hex(12), "toolu_" + secrets.token_hex(12)
    headers = success_headers(state, "anthropic", fault)
    if stream:
        return await send_stream(request, _plan(mid, model, answer, tool_id), fault, state.chunk_delay_ms, headers)
    payload = orjson.dumps(_message(mid, model, answer, tool_id))
    return await send_unary(request, fault, payload, headers)


@tracked
async def count_tokens(request: web.Request) -> web.StreamResponse:
    body, err = await read_json(request, "anthropic")
    if body is None:
        return err  # type: ignore[return-value]
    if not isinstance(body.get("messages"), list):
        return error_response("anthropic", 400, "messages: Field required")
    model = body.get("model") if isinstance(body.get("model"), str) else None
    early, fault = await gate(request, "anthropic", model, False)
    if early is not None:
        return early
    ask = _ask(body, body["messages"])
    return await send_unary(request, fault, orjson.dumps({"input_tokens": c.estimate_tokens(ask.prompt_chars)}))


async def list_models(request: web.Request) -> web.StreamResponse:
    """GET /v1/models in Anthropic's shape (routed by models_list, which shares the path)."""
    denied = key_error(request, "anthropic")
    if denied is not None:
        return denied
    early, fault = await gate(request, "anthropic", None, False)
    if early is not None:
        return early
    state = request.app[STATE]
    names = sorted(set(DEFAULT_MODELS) | state.models_seen)
    data = [{"type": "model", "id": n, "display_name": n, "created_at": _CREATED_AT} for n in names]
    payload = {"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]}
    return await send_unary(request, fault, orjson.dumps(payload), success_headers(state, "anthropic", fault))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
