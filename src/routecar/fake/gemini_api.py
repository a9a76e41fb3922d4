"""The Gemini dialect: /v1beta/models/{model}:{method} (and the same under /v1)."""

from __future__ import annotations

import secrets
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

_FINISH = {c.STOP: "STOP", c.LENGTH: "MAX_TOKENS", c.TOOL: "STOP", c.STOP_SEQUENCE: "STOP",
           c.SAFETY: "SAFETY"}
_SAFETY_RATINGS = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
DEFAULT_MODELS = ("gemini-2.0-flash", "gemini-1.5-flash", "text-embedding-004")


def _parts_text(parts: Any) -> tuple[str, bool]:
    """Text of a content's parts, and whether they answer a function call."""
    if not isinstance(parts, list):
        return "", False
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    answered = any(isinstance(p, dict) and ("functionResponse" in p or "function_response" in p) for p in parts)
    return " ".join(texts), answered


def _ask(body: dict[str, Any], contents: list[Any]) -> c.Ask:
    ask = c.Ask()
    system = body.get("systemInstruction") or body.get("system_instruction")
    chars = len(_parts_text(system.get("parts"))[0]) if isinstance(system, dict) else 0
    answered = False
    for item in contents:
        if not isinstance(item, dict):
            continue
        text, answered = _parts_text(item.get("parts"))
        chars += len(text)
        if item.get("role", "user") == "user" and text:
            ask.last_user = text
    ask.after_tool_result = answered
    for tool in body.get("tools") or ():
        decls = tool.get("functionDeclarations") or tool.get("function_declarations") if isinstance(tool, dict) else None
        for decl in decls or ():
            if isinstance(decl, dict) and isinstance(decl.get("name"), str):
                params = decl.get("parameters") or decl.get("parametersJsonSchema")
                ask.tools.append((decl["name"], _lower_types(params)))
    if ask.tools:
        chars += len(orjson.dumps(body.get("tools")))
    tool_config = body.get("toolConfig")
    config = tool_config.get("functionCallingConfig") if isinstance(tool_config, dict) else None
    if not isinstance(config, dict):
        config = {}
    mode = config.get("mode")
    if mode == "NONE":
        ask.tool_mode = "none"
    elif mode == "ANY":
        allowed = config.get("allowedFunctionNames") or []
        if len(allowed) == 1:
            ask.tool_mode, ask.tool_name = "named", allowed[0]
        else:
            ask.tool_mode = "required"
    gen = body.get("generationConfig") or {}
    if isinstance(gen, dict):
        limit = gen.get("maxOutputTokens")
        ask.max_tokens = limit if isinstance(limit, int) else None
        stops = gen.get("stopSequences")
        ask.stop = [s for s in stops if isinstance(s, str)] if isinstance(stops, list) else []
        if gen.get("responseMimeType") == "application/json":
            ask.json_mode = True
            ask.schema = gen.get("responseJsonSchema") or gen.get("responseSchema")
            if isinstance(ask.schema, dict):
                ask.schema = _lower_types(ask.schema)
    ask.prompt_chars = chars
    return ask


def _lower_types(schema: Any, depth: int = 0) -> Any:
    """Gemini's OpenAPI subset spells types in capitals ("OBJECT"); JSON Schema does not."""
    if depth > 8:
        return schema
    if isinstance(schema, dict):
        out = {k: _lower_types(v, depth + 1) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = out["type"].lower()
        return out
    if isinstance(schema, list):
        return [_lower_types(v, depth + 1) for v in schema]
    return schema


def _usage(prompt: int, out: int) -> dict[str, int]:
    return {"promptTokenCount": prompt, "candidatesTokenCount": out, "totalTokenCount": prompt + out}


def _candidate(parts: list[dict[str, Any]] | None, finish: str | None) -> dict[str, Any]:
    cand: dict[str, Any] = {"index": 0}
    if parts is not None:
        cand["content"] = {"parts": parts, "role": "model"}
    if finish is not None:
        cand["finishReason"] = finish
        if finish == "SAFETY":
            cand["safetyRatings"] = _SAFETY_RATINGS
    return cand


def _response(model: str, rid: str, answer: c.Answer) -> dict[str, Any]:
    if answer.finish == c.SAFETY:
        parts = None
    elif answer.finish == c.TOOL:
        parts = [{"functionCall": {"name": answer.tool_name, "args": answer.tool_input}}]
    else:
        parts = [{"text": answer.text}]
    return {"candidates": [_candidate(parts, _FINISH[answer.finish])],
            "usageMetadata": _usage(answer.prompt_tokens, answer.completion_tokens),
            "modelVersion": model, "responseId": rid}


def _chunks(model: str, rid: str, answer: c.Answer) -> list[dict[str, Any]]:
    """Streamed GenerateContentResponses: text in pieces, the finish on the last one, usage
    cumulative on each (as Gemini does). Function calls arrive whole, never in pieces."""
    if answer.finish in (c.TOOL, c.SAFETY) or not answer.pieces:
        return [_response(model, rid, answer)]
    out, sent = [], 0
    last = len(answer.pieces) - 1
    for i, piece in enumerate(answer.pieces):
        sent = answer.completion_tokens if i == last else min(sent + len(piece.split()), answer.completion_tokens)
        out.append({"candidates": [_candidate([{"text": piece}], _FINISH[answer.finish] if i == last else None)],
                    "usageMetadata": _usage(answer.prompt_tokens, sent),
                    "modelVersion": model, "responseId": rid})
    return out


async def _generate(request: web.Request, model: str, stream: bool) -> web.StreamResponse:
    body, err = await read_json(request, "gemini")
    if body is None:
        return err  # type: ignore[return-value]
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return error_response("gemini", 400, "* GenerateContentRequest.contents: contents is not specified")
    sse = stream and request.query.get("alt") == "sse"
    early, fault = await gate(request, "gemini", model, sse)
    if early is not None:
        return early
    state = request.app[STATE]
    answer = c.compose(_ask(body, contents), state.name, state.chunks, fault is not None and fault.safety)
    rid = secrets.token_urlsafe(16)
    headers = success_headers(state, "gemini", fault)
    if sse:
        frames = [b"data: " + orjson.dumps(ch) + b"\r\n\r\n" for ch in _chunks(model, rid, answer)]
        plan = StreamPlan([], frames, [], stream_error_frame("gemini", 503))
        return await send_stream(request, plan, fault, state.chunk_delay_ms, headers)
    # Without alt=sse Gemini streams one JSON array of the same responses.
    payload: Any = _chunks(model, rid, answer) if stream else _response(model, rid, answer)
    return await send_unary(request, fault, orjson.dumps(payload), headers)


def _content_text(content: Any) -> str | None:
    if not isinstance(content, dict):
        return None
    text, _ = _parts_text(content.get("parts"))
    return text


async def _embed(request: web.Request, model: str, batch: bool) -> web.StreamResponse:
    body, err = await read_json(request, "gemini")
    if body is None:
        return err  # type: ignore[return-value]
    items = body.get("requests") if batch else [body]
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return error_response("gemini", 400, "* BatchEmbedContentsRequest.requests: requests is not specified")
    texts, dims = [], []
    state = request.app[STATE]
    for item in items:
        text = _content_text(item.get("content"))
        if text is None:
            return error_response("gemini", 400, "* EmbedContentRequest.content: content is not specified")
        dim = item.get("outputDimensionality")
        texts.append(text)
        dims.append(dim if isinstance(dim, int) and dim > 0 else state.embedding_dim)
    early, fault = await gate(request, "gemini", model, False)
    if early is not None:
        return early
    vectors = [{"values": embed_text(t, d)} for t, d in zip(texts, dims)]
    payload = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
    return await send_unary(request, fault, orjson.dumps(payload), success_headers(state, "gemini", fault))


async def _count(request: web.Request, model: str) -> web.StreamResponse:
    body, err = await read_json(request, "gemini")
    if body is None:
        return err  # type: ignore[return-value]
    early, fault = await gate(request, "gemini", model, False)
    if early is not None:
        return early
    contents = body.get("contents") if isinstance(body.get("contents"), list) else []
    ask = _ask(body, contents)
    return await send_unary(request, fault, orjson.dumps({"totalTokens": c.estimate_tokens(ask.prompt_chars)}))


@tracked
async def model_method(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].partition(":")
    if method == "generateContent":
        return await _generate(request, model, False)
    if method == "streamGenerateContent":
        return await _generate(request, model, True)
    if method == "embedContent":
        return await _embed(request, model, False)
    if method == "batchEmbedContents":
        return await _embed(request, model, True)
    if method == "countTokens":
        return await _count(request, model)
    return error_response("gemini", 404, f"Method '{method}' is not found for model '{model}'.")


@tracked
async def list_models(request: web.Request) -> web.StreamResponse:
    denied = key_error(request, "gemini")
    if denied is not None:
        return denied
    # Health checks probe this list, so it answers through the same faults as generation.
    early, fault = await gate(request, "gemini", None, False)
    if early is not None:
        return early
    state = request.app[STATE]
    names = sorted(set(DEFAULT_MODELS) | state.models_seen)
    models = [{"name": f"models/{n}", "displayName": n,
               "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "embedContent"]}
              for n in names]
    return await send_unary(request, fault, orjson.dumps({"models": models}),
                            success_headers(state, "gemini", fault))


def add_routes(app: web.Application) -> None:
    for prefix in ("/v1beta", "/v1"):
        app.router.add_post(prefix + "/models/{target}", model_method)
    app.router.add_get("/v1beta/models", list_models)
