"""The OpenAI dialect: /v1/chat/completions, /v1/embeddings, and the /v1/models list."""

from __future__ import annotations

import base64
import secrets
import struct
import time
from typing import Any

import orjson
from aiohttp import web

from . import content as c
from .embed import embed_text
from .errors import error_response, stream_error_frame
from .gate import gate, key_error, read_json, success_headers, tracked
from .state import STATE
from .stream import StreamPlan, send_stream
from .unary import send_unary

_FINISH = {c.STOP: "stop", c.LENGTH: "length", c.TOOL: "tool_calls", c.STOP_SEQUENCE: "stop",
           c.SAFETY: "content_filter"}
_DONE = b"data: [DONE]\n\n"
_NO_FINISH = b',"logprobs":null,"finish_reason":null}]}\n\n'
_PREAMBLE_DELTA = b'{"role":"assistant","content":"","refusal":null}'
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


def _ask(body: dict[str, Any], messages: list[Any]) -> c.Ask:
    ask = c.Ask()
    chars = 0
    for msg in messages:
        if not isinstance(msg, dict):
            continue
        text = c.text_of(msg.get("content"))
        chars += len(text)
        if msg.get("role") == "user":
            ask.last_user = text
    last = messages[-1]
    ask.after_tool_result = isinstance(last, dict) and last.get("role") in ("tool", "function")
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        chars += len(orjson.dumps(tools))
        for tool in tools:
            fn = tool.get("function") if isinstance(tool, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                ask.tools.append((fn["name"], fn.get("parameters")))
    choice = body.get("tool_choice")
    if choice in ("none", "required", "auto"):
        ask.tool_mode = choice
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        ask.tool_mode, ask.tool_name = "named", choice["function"].get("name")
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        ask.json_mode = True
        spec = fmt.get("json_schema")
        ask.schema = spec.get("schema") if isinstance(spec, dict) else None
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    ask.max_tokens = limit if isinstance(limit, int) else None
    stop = body.get("stop")
    if isinstance(stop, str):
        ask.stop = [stop]
    elif isinstance(stop, list):
        ask.stop = [s for s in stop if isinstance(s, str)]
    ask.prompt_chars = chars
    return ask


def _usage(answer: c.Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.total_tokens}


def _completion(cid: str, created: int, model: str, answer: c.Answer, call_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.finish == c.TOOL:
        message["content"] = None
        message["tool_calls"] = [{"id": call_id, "type": "function",
                                  "function": {"name": answer.tool_name, "arguments": answer.tool_args}}]
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _FINISH[answer.finish]}],
        "usage": _usage(answer), "system_fingerprint": "fp_fake",
    }


def _plan(cid: str, created: int, model: str, answer: c.Answer, call_id: str,
          include_usage: bool) -> StreamPlan:
    # Every chunk shares id/created/model: serialize that prefix once and splice deltas in.
    prefix = (b'data: {"id":"' + cid.encode() + b'","object":"chat.completion.chunk","created":'
              + str(created).encode() + b',"model":' + orjson.dumps(model)
              + b',"system_fingerprint":"fp_fake","choices":[{"index":0,"delta":')
    if answer.finish == c.TOOL:
        first = {"tool_calls": [{"index": 0, "id": call_id, "type": "function",
                                 "function": {"name": answer.tool_name, "arguments": ""}}]}
        deltas = [first] + [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in answer.pieces]
    else:
        deltas = [{"content": p} for p in answer.pieces]
    body = [prefix + orjson.dumps(d) + _NO_FINISH for d in deltas]
    tail = [prefix + b'{},"logprobs":null,"finish_reason":"' + _FINISH[answer.finish].encode() + b'"}]}\n\n']
    if include_usage:
        usage = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "system_fingerprint": "fp_fake", "choices": [], "usage": _usage(answer)}
        tail.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    tail.append(_DONE)
    return StreamPlan([prefix + _PREAMBLE_DELTA + _NO_FINISH], body, tail, stream_error_frame("openai"))


@tracked
async def chat_completions(request: web.Request) -> web.StreamResponse:
    body, err = await read_json(request, "openai")
    if body is None:
        return err  # type: ignore[return-value]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_response("openai", 400, "you must provide a model parameter")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response("openai", 400, "'messages' must be a non-empty array")
    stream = body.get("stream") is True
    early, fault = await gate(request, "openai", model, stream)
    if early is not None:
        return early
    state = request.app[STATE]
    answer = c.compose(_ask(body, messages), state.name, state.chunks, fault is not None and fault.safety)
    cid, call_id, created = "chatcmpl-" + secrets.token_hex(12), "call_" + secrets.token_hex(12), int(time.time())
    headers = success_headers(state, "openai", fault)
    if stream:
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and opts.get("include_usage") is True
        plan = _plan(cid, created, model, answer, call_id, include_usage)
        return await send_stream(request, plan, fault, state.chunk_delay_ms, headers)
    payload = orjson.dumps(_completion(cid, created, model, answer, call_id))
    return await send_unary(request, fault, payload, headers)


def _inputs(value: Any) -> list[str] | None:
    """OpenAI accepts a string, strings, token ids, or lists of token ids."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, int) for v in value):
        return [" ".join(map(str, value))]
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and all(isinstance(v, int) for v in item):
            out.append(" ".join(map(str, item)))
        else:
            return None
    return out


def _encode(vec: list[float], fmt: str) -> list[float] | str:
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
    return vec


@tracked
async def embeddings(request: web.Request) -> web.StreamResponse:
    body, err = await read_json(request, "openai")
    if body is None:
        return err  # type: ignore[return-value]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return error_response("openai", 400, "you must provide a model parameter")
    texts = _inputs(body.get("input"))
    if texts is None:
        return error_response("openai", 400, "'input' must be a string or an array of strings")
    early, fault = await gate(request, "openai", model, False)
    if early is not None:
        return early
    state = request.app[STATE]
    dims = body.get("dimensions")
    dim = dims if isinstance(dims, int) and dims > 0 else state.embedding_dim
    fmt = body.get("encoding_format") or "float"
    data = [{"object": "embedding", "index": i, "embedding": _encode(embed_text(t, dim), fmt)}
            for i, t in enumerate(texts)]
    tokens = sum(c.estimate_tokens(len(t)) for t in texts)
    payload = {"object": "list", "data": data, "model": model,
               "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return await send_unary(request, fault, orjson.dumps(payload), success_headers(state, "openai", fault))


async def list_models(request: web.Request) -> web.StreamResponse:
    """GET /v1/models in OpenAI's shape (routed by models_list, which shares the path)."""
    denied = key_error(request, "openai")
    if denied is not None:
        return denied
    early, fault = await gate(request, "openai", None, False)
    if early is not None:
        return early
    state = request.app[STATE]
    names = sorted(set(DEFAULT_MODELS) | state.models_seen)
    data = [{"id": n, "object": "model", "created": 1700000000, "owned_by": state.name} for n in names]
    return await send_unary(request, fault, orjson.dumps({"object": "list", "data": data}),
                            success_headers(state, "openai", fault))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/embeddings", embeddings)
