"""The OpenAI Responses dialect: `POST /v1/responses`, whole and streamed (typed events).

Stateless like the rest of the fake: `previous_response_id` is accepted and ignored, nothing is
stored. Input is a string or a list of items (messages, function calls and their outputs);
function tools are called as the chat dialect calls them.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from . import content as c
from .errors import error_response, stream_error_frame
from .gate import gate, read_json, success_headers, tracked
from .state import STATE
from .stream import StreamPlan, send_stream
from .unary import send_unary


def _ask(body: dict[str, Any]) -> c.Ask:
    ask = c.Ask()
    chars = len(body.get("instructions") or "") if isinstance(body.get("instructions"), str) else 0
    inp = body.get("input")
    items = [{"role": "user", "content": inp}] if isinstance(inp, str) else (inp if isinstance(inp, list) else [])
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message":
            content = item.get("content")
            text = content if isinstance(content, str) else " ".join(
                p.get("text") or "" for p in content or () if isinstance(p, dict))
            chars += len(text)
            if item.get("role") == "user":
                ask.last_user = text
        elif kind == "function_call_output":
            chars += len(str(item.get("output") or ""))
    last = items[-1] if items else None
    ask.after_tool_result = isinstance(last, dict) and last.get("type") == "function_call_output"
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(orjson.dumps(tools))
        ask.tools = [(t["name"], t.get("parameters")) for t in tools
                     if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("name"), str)]
    choice = body.get("tool_choice")
    if choice in ("none", "required", "auto"):
        ask.tool_mode = choice
    elif isinstance(choice, dict) and choice.get("type") == "function":
        ask.tool_mode, ask.tool_name = "named", choice.get("name")
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        ask.json_mode, ask.schema = True, fmt.get("schema")
    limit = body.get("max_output_tokens")
    ask.max_tokens = limit if isinstance(limit, int) else None
    ask.prompt_chars = chars
    return ask


def _usage(answer: c.Answer) -> dict[str, Any]:
    return {"input_tokens": answer.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": answer.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": answer.total_tokens}


def _shell(rid: str, created: int, model: str, status: str) -> dict[str, Any]:
    return {"id": rid, "object": "response", "created_at": created, "status": status, "error": None,
            "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": model,
            "output": [], "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": 1.0,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
            "truncation": "disabled", "usage": None, "metadata": {}}


def _item(answer: c.Answer, item_id: str, call_id: str) -> dict[str, Any]:
    if answer.finish == c.TOOL:
        return {"id": item_id, "type": "function_call", "status": "completed", "call_id": call_id,
                "name": answer.tool_name, "arguments": answer.tool_args}
    return {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}]}


def _final(rid: str, created: int, model: str, answer: c.Answer, item: dict[str, Any]) -> dict[str, Any]:
    status = "incomplete" if answer.finish == c.LENGTH else "completed"
    resp = _shell(rid, created, model, status)
    if status == "incomplete":
        resp["incomplete_details"] = {"reason": "max_output_tokens"}
    resp["output"] = [item]
    resp["usage"] = _usage(answer)
    return resp


class _Events:
    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, name: str, payload: dict[str, Any]) -> bytes:
        data = {"type": name, **payload, "sequence_number": self.seq}
        self.seq += 1
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _plan(rid: str, created: int, model: str, answer: c.Answer, item: dict[str, Any]) -> StreamPlan:
    ev = _Events()
    start = _shell(rid, created, model, "in_progress")
    head = [ev("response.created", {"response": start}), ev("response.in_progress", {"response": start})]
    item_id = item["id"]
    if item["type"] == "function_call":
        head.append(ev("response.output_item.added", {"output_index": 0,
                                                      "item": {**item, "status": "in_progress", "arguments": ""}}))
        body = [ev("response.function_call_arguments.delta", {"item_id": item_id, "output_index": 0, "delta": p})
                for p in answer.pieces]
        tail = [ev("response.function_call_arguments.done",
                   {"item_id": item_id, "output_index": 0, "arguments": item["arguments"]})]
    else:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        head.append(ev("response.output_item.added", {"output_index": 0,
                                                      "item": {**item, "status": "in_progress", "content": []}}))
        head.append(ev("response.content_part.added",
                       {"item_id": item_id, "output_index": 0, "content_index": 0, "part": part}))
        body = [ev("response.output_text.delta", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                                  "delta": p, "logprobs": []}) for p in answer.pieces]
        tail = [ev("response.output_text.done", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                                 "text": answer.text, "logprobs": []}),
                ev("response.content_part.done", {"item_id": item_id, "output_index": 0, "content_index": 0,
                                                  "part": item["content"][0]})]
    final = _final(rid, created, model, answer, item)
    tail.append(ev("response.output_item.done", {"output_index": 0, "item": item}))
    tail.append(ev("response.completed" if final["status"] == "completed" else "response.incomplete",
                   {"response": final}))
    return StreamPlan(head, body, tail, stream_error_frame("openai"))


@tracked
async def responses(request: web.Request) -> web.StreamResponse:
    body, err = await read_json(request, "openai")
    if body is None:
        return err  # type: ignore[return-value]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_response("openai", 400, "you must provide a model parameter")
    if body.get("input") is None:
        return error_response("openai", 400, "Missing required parameter: 'input'.")
    stream = body.get("stream") is True
    early, fault = await gate(request, "openai", model, stream)
    if early is not None:
        return early
    state = request.app[STATE]
    answer = c.compose(_ask(body), state.name, state.chunks, fault is not None and fault.safety)
    rid, created = "resp_" + secrets.token_hex(12), int(time.time())
    kind = "fc_" if answer.finish == c.TOOL else "msg_"
    item = _item(answer, kind + secrets.token_hex(12), "call_" + secrets.token_hex(12))
    headers = success_headers(state, "openai", fault)
    if stream:
        return await send_stream(request, _plan(rid, created, model, answer, item), fault, state.chunk_delay_ms,
                                 headers)
    return await send_unary(request, fault, orjson.dumps(_final(rid, created, model, answer, item)), headers)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", responses)
