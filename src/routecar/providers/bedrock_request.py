"""Canonical (OpenAI chat) request -> AWS Bedrock Converse request body.

Converse shapes everything as content blocks: the system prompt is a top-level list of text
blocks, turns alternate user/assistant (consecutive same-role messages are merged), images
are raw bytes (base64 in the JSON body: only `data:` URLs can be sent, Converse cannot fetch
an http URL), tool calls are `toolUse` blocks with object inputs and their results
`toolResult` blocks inside a user turn. Sampling lives in `inferenceConfig`.
"""

from __future__ import annotations

from typing import Any

from . import request_translation as rt
from . import unsupported_params as up
from .base import ChatCall, Translation

# Converse has none of OpenAI's extra parameters (top_k goes as a model-specific field).
UNSUPPORTED: dict[str, up.Inert] = up.OPENAI_EXTRAS

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "text/html": "html", "text/plain": "txt", "text/markdown": "md",
    "application/msword": "doc", "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


def build_body(call: ChatCall, notes: Translation) -> dict[str, Any]:
    body = call.body
    up.check_unsupported(body, UNSUPPORTED, call.provider, "bedrock", notes)
    up.check_openai_only(body, "bedrock")
    up.check_anthropic_only(body, call.provider, "bedrock", notes)
    system, turns = convert_messages(body)
    instruction = rt.json_instruction(body.get("response_format"))
    if instruction:
        system.append({"text": instruction})  # Converse has no JSON mode
    out: dict[str, Any] = {"messages": turns}
    if system:
        out["system"] = system
    config = _inference_config(body, call.default_max_tokens)
    if config:
        out["inferenceConfig"] = config
    if body.get("_anthropic_top_k") is not None:
        out["additionalModelRequestFields"] = {"top_k": body["_anthropic_top_k"]}
    tools = _tool_config(body, turns)
    if tools is not None:
        out["toolConfig"] = tools
    return out


def _inference_config(body: dict[str, Any], default_max_tokens: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = rt.max_output_tokens(body, default_max_tokens)
    if max_tokens:
        config["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = rt.stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    return config


def convert_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, alternating user/assistant turns)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg, role in rt.messages_of(body, "bedrock"):
        if role in ("system", "developer"):
            text = rt.text_of(msg.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            rt.add_turn(turns, "user", "content", rt.user_parts(msg.get("content"), i, _part))
        elif role == "assistant":
            rt.add_turn(turns, "assistant", "content", _assistant_blocks(msg, i))
        else:
            rt.add_turn(turns, "user", "content", [_tool_result(msg, i)])
    return system, turns


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        # Converse refuses empty text blocks.
        return {"text": part["text"]} if part.get("text") else None
    if kind in ("image_url", "file"):
        url = rt.part_url(part)
        parsed = rt.parse_data_url(url) if isinstance(url, str) else None
        if not parsed:
            raise rt.TranslationError(param, "only inline data (a base64 data: URL) can be sent to bedrock providers")
        media_type, data = parsed
        if kind == "image_url" or media_type in IMAGE_FORMATS:
            fmt = IMAGE_FORMATS.get(media_type)
            if fmt is None:
                raise rt.TranslationError(param, f"image type '{media_type}' is not supported by bedrock providers")
            return {"image": {"format": fmt, "source": {"bytes": data}}}
        fmt = DOCUMENT_FORMATS.get(media_type)
        if fmt is None:
            raise rt.TranslationError(param, f"file type '{media_type}' is not supported by bedrock providers")
        # Converse wants a document name (letters, digits, spaces, hyphens, brackets).
        name = (part.get("file") or {}).get("filename") or "document"
        return {"document": {"format": fmt, "name": _document_name(str(name)), "source": {"bytes": data}}}
    raise rt.TranslationError(param, f"content part type '{kind}' is not supported by bedrock providers")


def _document_name(name: str) -> str:
    kept = "".join(c if c.isalnum() or c in " -()[]" else " " for c in name.rsplit(".", 1)[0])
    return " ".join(kept.split())[:200] or "document"


def _assistant_blocks(msg: dict[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = rt.text_of(msg.get("content"))
    if text:
        blocks.append({"text": text})
    for j, call, name, arguments in rt.tool_calls_of(msg, i):
        call_id = call.get("id") or f"tooluse_{i}_{j}"
        blocks.append({"toolUse": {"toolUseId": call_id, "name": name, "input": arguments}})
    return blocks


def _tool_result(msg: dict[str, Any], i: int) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise rt.TranslationError(f"messages[{i}].tool_call_id", "tool messages need a 'tool_call_id'")
    content = msg.get("content")
    if isinstance(content, list):
        blocks = rt.user_parts(content, i, _part)
    else:
        text = rt.text_of(content)
        parsed = rt.json_object(text) if text.lstrip().startswith("{") else None
        blocks = [{"json": parsed}] if parsed is not None else [{"text": text}] if text else []
    # Converse refuses a result without content; an empty result is said as such.
    return {"toolResult": {"toolUseId": call_id, "content": blocks or [{"text": ""}]}}


def _tool_config(body: dict[str, Any], turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not body.get("tools"):
        return None
    choice = body.get("tool_choice")
    if choice == "none" and not any("toolUse" in block for turn in turns for block in turn["content"]):
        # Converse cannot forbid tool use; without tools the model cannot call one (but a
        # conversation holding tool calls must declare its tools).
        return None
    tools = []
    for i, tool in enumerate(body["tools"]):
        spec, params = rt.function_tool(tool, i, "bedrock")
        spec["inputSchema"] = {"json": params or {"type": "object", "properties": {}}}
        tools.append({"toolSpec": spec})
    out: dict[str, Any] = {"tools": tools}
    if choice in (None, "auto", "none"):
        pass  # Converse's default
    elif choice == "required":
        out["toolChoice"] = {"any": {}}
    elif name := rt.chosen_function(choice):
        out["toolChoice"] = {"tool": {"name": name}}
    else:
        raise rt.bad_tool_choice()
    return out
