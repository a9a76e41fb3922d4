"""Canonical (OpenAI chat) request -> Anthropic Messages API request body.

Anthropic differs from OpenAI in ways that shape this code: the system prompt is a top-level
field, turns must alternate (so consecutive same-role messages are merged), tool results are
`tool_result` blocks inside a user turn, tool call arguments are objects rather than JSON
strings, and `max_tokens` is required.
"""

from __future__ import annotations

from typing import Any, Callable

from ..config.model import ProviderConfig
from . import _tx_common as tx
from .base import Translation

# Parameters Anthropic has no equivalent for, with the values that change nothing.
UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "n": tx.is_one,
    "logprobs": tx.is_falsy,
    "top_logprobs": tx.is_zero,
    "presence_penalty": tx.is_zero,
    "frequency_penalty": tx.is_zero,
    "logit_bias": tx.is_falsy,
    "seed": tx.is_none,
    "audio": tx.is_none,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": tx.is_none,
    "reasoning_effort": tx.is_none,
    "web_search_options": tx.is_none,
    "functions": tx.is_none,
    "function_call": tx.is_none,
}


def build_body(
    provider: ProviderConfig,
    upstream_model: str,
    body: dict[str, Any],
    stream: bool,
    notes: Translation,
    default_max_tokens: int,
) -> dict[str, Any]:
    tx.check_unsupported(body, UNSUPPORTED, provider, "anthropic", notes)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise tx.TranslationError("messages", "'messages' must be a list")
    system, turns = convert_messages(messages)
    instruction = tx.json_instruction(body.get("response_format"))
    if instruction:
        system.append({"type": "text", "text": instruction})

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out: dict[str, Any] = {"model": upstream_model, "max_tokens": max_tokens, "messages": turns}
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
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [_tool(t, i) for i, t in enumerate(body["tools"])]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and out.get("tools"):
        out["tool_choice"] = choice
    if isinstance(body.get("user"), str) and body["user"]:
        out["metadata"] = {"user_id": body["user"]}
    if stream:
        out["stream"] = True
    return out


def convert_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system text blocks, alternating user/assistant turns)."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise tx.TranslationError(f"messages[{i}]", f"'messages[{i}]' must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg.get("content"), i))
        elif role == "user":
            _append(turns, "user", _user_blocks(msg.get("content"), i))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(msg, i))
        elif role == "tool":
            _append(turns, "user", [_tool_result(msg, i)])
        else:
            raise tx.TranslationError(f"messages[{i}].role", f"role '{role}' is not supported by anthropic providers")
    if turns and turns[-1]["role"] == "assistant":
        _trim_prefill(turns[-1]["content"])
        if not turns[-1]["content"]:
            turns.pop()
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0].keys() == {"type", "text"} and blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
    return system, turns


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return  # Anthropic rejects empty turns; an empty message carries nothing anyway
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


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
    raise tx.TranslationError(f"messages[{i}].content", "system content must be a string or a list of parts")


def _user_blocks(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise tx.TranslationError(f"messages[{i}].content", "user content must be a string or a list of parts")
    blocks = []
    for j, part in enumerate(content):
        block = _part(part, f"messages[{i}].content[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        text = part.get("text") or ""
        return {"type": "text", "text": text} if text else None
    if kind == "image_url":
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        if not isinstance(url, str) or not url:
            raise tx.TranslationError(param, f"'{param}.image_url.url' must be a string")
        parsed = tx.parse_data_url(url)
        if parsed:
            source = {"type": "base64", "media_type": parsed[0], "data": parsed[1]}
        else:
            source = {"type": "url", "url": url}
        return {"type": "image", "source": source}
    if kind == "file":
        file = part.get("file") or {}
        parsed = tx.parse_data_url(file.get("file_data") or "") if isinstance(file, dict) else None
        if not parsed:
            raise tx.TranslationError(param, "only inline file_data (a base64 data: URL) can be sent to anthropic")
        return {"type": "document", "source": {"type": "base64", "media_type": parsed[0], "data": parsed[1]}}
    raise tx.TranslationError(param, f"content part type '{kind}' is not supported by anthropic providers")


def _assistant_blocks(msg: dict[str, Any], i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = tx.text_of(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for j, call in enumerate(msg.get("tool_calls") or ()):
        param = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise tx.TranslationError(param, f"'{param}.function.name' is required")
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{i}_{j}",
                "name": fn["name"],
                "input": tx.tool_arguments(fn.get("arguments"), f"{param}.function.arguments"),
            }
        )
    return blocks


def _tool_result(msg: dict[str, Any], i: int) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise tx.TranslationError(f"messages[{i}].tool_call_id", "tool messages need a 'tool_call_id'")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = msg.get("content")
    if isinstance(content, list):
        parts = _user_blocks(content, i)
        if all(p["type"] == "text" for p in parts):
            content = "".join(p["text"] for p in parts)
        else:
            block["content"] = parts
            return block
    if content:
        block["content"] = content if isinstance(content, str) else str(content)
    return block


def _tool(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise tx.TranslationError(f"tools[{i}]", "only function tools with a name are supported by anthropic providers")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
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
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise tx.TranslationError("tool_choice", "tool_choice must be auto, none, required or a named function")
    if out is not None and parallel is False:
        out["disable_parallel_tool_use"] = True
    return out
