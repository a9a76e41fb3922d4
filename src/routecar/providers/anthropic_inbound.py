"""Anthropic Messages API as an entry point: requests arriving at routecar's `POST /v1/messages`.

The request is validated and turned into a canonical (OpenAI chat) body so it can be routed to
any provider; the canonical answer is turned back into an Anthropic `message` (by
`anthropic_inbound_answer`) or, streaming, into Anthropic events (by `anthropic_inbound_stream`).
This module is the entry point's face: the server needs nothing else. Anthropic-only knobs with
no OpenAI equivalent travel under private `_anthropic_*` keys that only the Anthropic adapter
reads.

Passthrough: the app's own bytes travel as `_anthropic_raw`, and an Anthropic upstream gets
them unchanged apart from `model` (cache_control, thinking, citations, documents, beta fields
routecar has never heard of). Other protocols get the translation; top-level fields it has no
place for (`thinking`, `service_tier`, ...) are listed in `_anthropic_extra`, and a content
block or tool it cannot express defers its refusal in `_anthropic_untranslatable`: only a
non-Anthropic candidate refuses it (400 naming the field, or dropped when the provider says
`drop_unsupported_params`), so the request still reaches an Anthropic one.
"""

from __future__ import annotations

from typing import Any

from .anthropic_inbound_answer import ERROR_TYPES, canonical_to_message, error_body, error_type_for_status
from .anthropic_inbound_stream import MessagesStreamEncoder
from .canonical import tool_call
from .request_translation import data_url

__all__ = [
    "ERROR_TYPES",
    "InboundError",
    "MessagesStreamEncoder",
    "canonical_to_message",
    "error_body",
    "error_type_for_status",
    "messages_to_canonical",
]

class InboundError(ValueError):
    """A `/v1/messages` request routecar cannot accept (answered as 400 invalid_request_error)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param


class Untranslatable(InboundError):
    """Valid Anthropic with no canonical form: fine for an Anthropic upstream (passthrough),
    refused by the others."""


class RawBody:
    """The app's request bytes, for passthrough. Opaque in cache keys (its repr is constant):
    what it says is keyed through the canonical fields and `_anthropic_extra`."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        self.raw = raw

    def __repr__(self) -> str:
        return "RawBody"


# Top-level Messages fields the translation carries; any other is Anthropic-only.
_TRANSLATED = frozenset({"model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k",
                         "stop_sequences", "tools", "tool_choice", "metadata", "stream"})


def messages_to_canonical(body: Any, raw: bytes | None = None) -> dict[str, Any]:
    """The canonical body of a Messages request; `raw` (the app's bytes) enables passthrough."""
    if not isinstance(body, dict):
        raise InboundError("request body must be a JSON object")
    try:
        out = _translated(body)
    except Untranslatable as exc:
        out = _routing_only(body)
        out["_anthropic_untranslatable"] = (exc.param or "messages", exc.message)
    extra = {k: v for k, v in body.items() if k not in _TRANSLATED}
    if extra:
        out["_anthropic_extra"] = extra
    if raw is not None:
        out["_anthropic_raw"] = RawBody(raw)
    return out


def _routing_only(body: dict[str, Any]) -> dict[str, Any]:
    """Enough of a request the translation cannot express for routing and estimates (the
    Anthropic message shapes are close enough for counting), never sent anywhere but to an
    Anthropic upstream, which gets the app's own bytes."""
    out: dict[str, Any] = {"model": body["model"], "messages": body["messages"], "max_tokens": body["max_tokens"]}
    for key in ("system", "tools", "temperature"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _translated(body: dict[str, Any]) -> dict[str, Any]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InboundError("model: field required (a non-empty string)", "model")
    max_tokens = body.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise InboundError("max_tokens: field required (an integer of at least 1)", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InboundError("messages: field required (a non-empty list)", "messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InboundError("stream: must be a boolean", "stream")
    out: dict[str, Any] = {"model": model, "messages": _system(body.get("system"))}
    for i, msg in enumerate(messages):
        out["messages"].extend(_message(msg, i))
    out["max_tokens"] = max_tokens
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = _number(body[key], key)
    if body.get("top_k") is not None:
        if not _is_int(body["top_k"]):
            raise InboundError("top_k: must be an integer", "top_k")
        out["_anthropic_top_k"] = body["top_k"]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InboundError("stop_sequences: must be a list of strings", "stop_sequences")
        if stops:
            out["stop"] = stops
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        choice = _tool_choice(body["tool_choice"])
        if "tools" in out:  # OpenAI rejects a tool_choice without tools
            out.update(choice)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    if stream:
        out["stream"] = True
        # The closing message_delta reports usage, so it is asked for from every upstream.
        out["stream_options"] = {"include_usage": True}
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if isinstance(system, list):
        parts = []
        for j, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
                raise InboundError(f"system.{j}: system blocks must be text blocks", "system")
            parts.append({"type": "text", "text": block["text"]})
        return [{"role": "system", "content": parts}] if parts else []
    raise InboundError("system: must be a string or a list of text blocks", "system")


def _message(msg: Any, i: int) -> list[dict[str, Any]]:
    where = f"messages.{i}"
    if not isinstance(msg, dict):
        raise InboundError(f"{where}: must be an object", "messages")
    role, content = msg.get("role"), msg.get("content")
    if role not in ("user", "assistant"):
        raise InboundError(f"{where}.role: must be 'user' or 'assistant'", "messages")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise InboundError(f"{where}.content: must be a string or a list of content blocks", "messages")
    return _user(content, where) if role == "user" else [_assistant(content, where)]


def _user(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        if block.get("type") == "tool_result":
            text, images = _tool_result_content(block.get("content"), f"{where}.content.{j}")
            tool_id = block.get("tool_use_id")
            if not isinstance(tool_id, str) or not tool_id:
                raise InboundError(f"{where}.content.{j}.tool_use_id: field required", "messages")
            tools.append({"role": "tool", "tool_call_id": tool_id, "content": text})
            parts.extend(images)  # OpenAI tool messages are text-only: images follow as user content
        else:
            parts.append(_part(block, f"{where}.content.{j}"))
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _tool_result_content(content: Any, where: str) -> tuple[str, list[dict[str, Any]]]:
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise InboundError(f"{where}.content: must be a string or a list of blocks", "messages")
    parts = [_part(b, f"{where}.content.{k}") for k, b in enumerate(content)]
    text = "".join(p["text"] for p in parts if p["type"] == "text")
    return text, [p for p in parts if p["type"] != "text"]


def _part(block: Any, where: str) -> dict[str, Any]:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    source = block.get("source") if isinstance(block, dict) else None
    if kind in ("image", "document") and isinstance(source, dict):
        if source.get("type") == "base64" and isinstance(source.get("data"), str):
            url = data_url(str(source.get("media_type") or "application/octet-stream"), source["data"])
            if kind == "image":
                return {"type": "image_url", "image_url": {"url": url}}
            return {"type": "file", "file": {"file_data": url}}
        if kind == "image" and source.get("type") == "url" and isinstance(source.get("url"), str):
            return {"type": "image_url", "image_url": {"url": source["url"]}}
        if kind == "document" and source.get("type") == "text" and isinstance(source.get("data"), str):
            return {"type": "text", "text": source["data"]}
    raise Untranslatable(f"{where}: content block type '{kind}' has no equivalent outside Anthropic", "messages")


def _assistant(blocks: list[dict[str, Any]], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise InboundError(f"{where}.content.{j}: tool_use needs 'id' and 'name'", "messages")
            calls.append(tool_call(block["id"], block["name"], block.get("input")))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # signed reasoning only Anthropic can verify; other providers cannot take it
        else:
            raise Untranslatable(f"{where}.content.{j}: content block type '{kind}' has no equivalent outside "
                                 "Anthropic", "messages")
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InboundError("tools: must be a list", "tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "custom") != "custom":
            raise Untranslatable(f"tools.{i}: only custom (client) tools have an equivalent outside Anthropic", "tools")
        if not isinstance(tool.get("name"), str) or not isinstance(tool.get("input_schema"), dict):
            raise InboundError(f"tools.{i}: 'name' and 'input_schema' are required", "tools")
        fn: dict[str, Any] = {"name": tool["name"]}
        if tool.get("description"):
            fn["description"] = tool["description"]
        fn["parameters"] = tool["input_schema"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "auto":
        out["tool_choice"] = "auto"
    elif kind == "any":
        out["tool_choice"] = "required"
    elif kind == "none":
        out["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise InboundError("tool_choice: type must be auto, any, tool (with name) or none", "tool_choice")
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any, key: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InboundError(f"{key}: must be a number", key)
    return value
