"""Canonical (OpenAI chat) request -> Anthropic Messages API request body.

Anthropic differs from OpenAI in ways that shape this code: the system prompt is a top-level
field, turns must alternate (so consecutive same-role messages are merged), tool results are
`tool_result` blocks inside a user turn, tool call arguments are objects rather than JSON
strings, and `max_tokens` is required.
"""

from __future__ import annotations

from typing import Any

from . import request_translation as rt
from . import unsupported_params as up
from .base import ChatCall, Translation

# Anthropic has none of OpenAI's extra parameters.
UNSUPPORTED: dict[str, up.Inert] = up.OPENAI_EXTRAS


def build_body(call: ChatCall, notes: Translation, default_max_tokens: int) -> dict[str, Any]:
    body = call.body
    up.check_unsupported(body, UNSUPPORTED, call.provider, "anthropic", notes)
    up.check_openai_only(body, "anthropic")
    system, turns = convert_messages(body)
    instruction = rt.json_instruction(body.get("response_format"))
    if instruction:
        system.append({"type": "text", "text": instruction})

    out: dict[str, Any] = {
        "model": call.upstream_model,
        "max_tokens": rt.max_output_tokens(body, default_max_tokens),
        "messages": turns,
    }
    if system:
        out["system"] = system[0]["text"] if len(system) == 1 else system
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        # OpenAI accepts 0..2, Anthropic 0..1: clamp rather than fail over a range difference.
        out["temperature"] = min(temperature, 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    if body.get("_anthropic_top_k") is not None:
        out["top_k"] = body["_anthropic_top_k"]
    stop = rt.stop_sequences(body)
    if stop:
        out["stop_sequences"] = stop
    if body.get("tools"):
        out["tools"] = [_tool(t, i) for i, t in enumerate(body["tools"])]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and out.get("tools"):
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if call.stream:
        out["stream"] = True
    return out


def convert_messages(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, alternating user/assistant turns)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg, role in rt.messages_of(body, "anthropic"):
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg.get("content"), i))
        elif role == "user":
            rt.add_turn(turns, "user", "content", rt.user_parts(msg.get("content"), i, _part))
        elif role == "assistant":
            rt.add_turn(turns, "assistant", "content", _assistant_blocks(msg, i))
        else:
            rt.add_turn(turns, "user", "content", [_tool_result(msg, i)])
    if turns and turns[-1]["role"] == "assistant":
        _trim_prefill(turns[-1]["content"])
        if not turns[-1]["content"]:
            turns.pop()
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0].keys() == {"type", "text"} and blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
    return system, turns


def _trim_prefill(blocks: list[dict[str, Any]]) -> None:
    # A final (prefill) assistant turn may not end in whitespace: Anthropic answers 400.
    if blocks and blocks[-1].get("type") == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if not blocks[-1]["text"]:
            blocks.pop()


def _system_blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [{"type": "text", "text": p["text"]} for p in content if isinstance(p, dict) and p.get("text")]
    raise rt.TranslationError(f"messages[{i}].content", "system content must be a string or a list of parts")


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        text = part.get("text") or ""
        return {"type": "text", "text": text} if text else None
    if kind == "image_url":
        url = rt.part_url(part)
        if not isinstance(url, str) or not url:
            raise rt.TranslationError(param, f"'{param}.image_url.url' must be a string")
        parsed = rt.parse_data_url(url)
        if parsed:
            source = {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
        else:
            source = {"type": "url", "url": url}
        return {"type": "image", "source": source}
    if kind == "file":
        url = rt.part_url(part)
        parsed = rt.parse_data_url(url) if isinstance(url, str) else None
        if not parsed:
            raise rt.TranslationError(param, "only inline file_data (a base64 data: URL) can be sent to anthropic")
        return {"type": "document", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}
    raise rt.TranslationError(param, f"content part type '{kind}' is not supported by anthropic providers")


def _assistant_blocks(msg: dict[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = rt.text_of(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for j, call, name, arguments in rt.tool_calls_of(msg, i):
        blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_{i}_{j}", "name": name, "input": arguments})
    return blocks


def _tool_result(msg: dict[str, Any], i: int) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise rt.TranslationError(f"messages[{i}].tool_call_id", "tool messages need a 'tool_call_id'")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = msg.get("content")
    if isinstance(content, list):
        parts = rt.user_parts(content, i, _part)
        if all(p["type"] == "text" for p in parts):
            content = "".join(p["text"] for p in parts)
        else:
            block["content"] = parts
            return block
    if content:
        block["content"] = content if isinstance(content, str) else str(content)
    return block


def _tool(tool: Any, i: int) -> dict[str, Any]:
    out, parameters = rt.function_tool(tool, i, "anthropic")
    out["input_schema"] = parameters or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif name := rt.chosen_function(choice):
        out = {"type": "tool", "name": name}
    else:
        raise rt.bad_tool_choice()
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out
