"""Reading a canonical (OpenAI chat) request for translation into another protocol.

The translating adapters (Anthropic, Gemini) walk a request the same way: messages by role,
user content part by part, an assistant's tool calls, function tools, and the few parameters
every protocol has under other names. The walking and its errors live here; the protocol
modules only say what each piece becomes.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import orjson

from .base import UnsupportedParam

ROLES = ("system", "developer", "user", "assistant", "tool")


class TranslationError(UnsupportedParam):
    """A canonical request that cannot be expressed in the provider's protocol (answered as 400).

    Subclasses UnsupportedParam so the dispatcher's existing 400 path names `param`.
    """

    def __init__(self, param: str, message: str):
        Exception.__init__(self, message)
        self.param = param


def messages_of(body: dict[str, Any], provider_type: str) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(position, message, role) of each message, refusing what no protocol can take."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise TranslationError("messages", "'messages' must be a list")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise TranslationError(f"messages[{i}]", f"'messages[{i}]' must be an object")
        role = msg.get("role")
        if role not in ROLES:
            raise TranslationError(f"messages[{i}].role", f"role '{role}' is not supported by {provider_type} providers")
        yield i, msg, role


def add_turn(turns: list[dict[str, Any]], role: str, key: str, items: list[dict[str, Any]]) -> None:
    """Append to protocols whose turns alternate: consecutive same-role messages share one turn,
    and an empty one is left out (both Anthropic and Gemini reject empty turns)."""
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})


def user_parts(
    content: Any, i: int, convert: Callable[[Any, str], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """A user message's content in a protocol's parts: `convert` turns one canonical part (and
    its parameter path, for errors) into the protocol's part, or None to leave it out."""
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    elif not isinstance(content, list):
        raise TranslationError(f"messages[{i}].content", "user content must be a string or a list of parts")
    parts = []
    for j, part in enumerate(content):
        converted = convert(part, f"messages[{i}].content[{j}]")
        if converted is not None:
            parts.append(converted)
    return parts


def part_url(part: dict[str, Any]) -> Any:
    """The URL (a `data:` URL for inline data) an `image_url` or `file` part points at."""
    kind = part.get("type")
    ref = part.get(kind) if isinstance(kind, str) else None
    if kind == "image_url":
        return ref.get("url") if isinstance(ref, dict) else ref
    return ref.get("file_data") if isinstance(ref, dict) else None


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`data:image/png;base64,AAAA` -> ("image/png", "AAAA"); None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    media_type = header[: -len(";base64")] or "application/octet-stream"
    return media_type, data


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def text_of(content: Any) -> str:
    """The text of a canonical message content (a string, or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or part.get("refusal") or ""
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "refusal")
        )
    raise TranslationError("messages.content", "message content must be a string or a list of parts")


def tool_calls_of(msg: dict[str, Any], i: int) -> Iterator[tuple[int, dict[str, Any], str, dict[str, Any]]]:
    """(position, call, function name, arguments object) of each tool call an assistant made."""
    for j, call in enumerate(msg.get("tool_calls") or ()):
        param = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise TranslationError(param, f"'{param}.function.name' is required")
        yield j, call, fn["name"], tool_arguments(fn.get("arguments"), f"{param}.function.arguments")


def json_object(raw: Any) -> dict[str, Any] | None:
    """`raw` when it is, or is the JSON text of, an object; None otherwise."""
    if isinstance(raw, dict):
        return raw
    try:
        parsed = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def tool_arguments(raw: Any, param: str) -> dict[str, Any]:
    """An OpenAI tool call's JSON `arguments` string as the object other protocols want."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    parsed = json_object(raw)
    if parsed is None:
        raise TranslationError(param, f"'{param}' must be a JSON object string")
    return parsed


def function_tool(tool: Any, i: int, provider_type: str) -> tuple[dict[str, Any], Any]:
    """(name and description, parameters schema) of a function tool; other tools are refused."""
    fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise TranslationError(f"tools[{i}]", f"only function tools with a name are supported by {provider_type} providers")
    head: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        head["description"] = fn["description"]
    return head, fn.get("parameters")


def chosen_function(choice: Any) -> str | None:
    """The function a `tool_choice` names (`{"type": "function", "function": {"name": ...}}`)."""
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        return choice["function"]["name"]
    return None


def bad_tool_choice() -> TranslationError:
    return TranslationError("tool_choice", "tool_choice must be auto, none, required or a named function")


def max_output_tokens(body: dict[str, Any], default: int | None) -> Any:
    """The output cap: `max_completion_tokens` (OpenAI's newer name) over `max_tokens`."""
    return body.get("max_completion_tokens") or body.get("max_tokens") or default


def stop_sequences(body: dict[str, Any]) -> list[Any] | None:
    """`stop` (a string or a list) as the list every other protocol takes; None when absent."""
    stop = body.get("stop")
    if not stop:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def json_instruction(response_format: Any) -> str | None:
    """A system instruction standing in for `response_format` on protocols without JSON mode."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "Respond only with a single valid JSON object. Do not wrap it in Markdown or add any other text."
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        text = "Respond only with a single valid JSON value, without Markdown or any other text"
        if schema is not None:
            text += ", that conforms to this JSON Schema:\n" + orjson.dumps(schema).decode()
        return text + "."
    return None
