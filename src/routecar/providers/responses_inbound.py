"""OpenAI Responses API as an entry point: requests arriving at routecar's `POST /v1/responses`.

An OpenAI upstream gets the app's own bytes (bar `model`) at its `/responses`, so every field,
stored state included, works as OpenAI documents it. Any other upstream gets the request
translated to the canonical chat form: text, images, files, function tools and their results,
statelessly. What needs OpenAI (`previous_response_id`, `store: true`, `conversation`,
`background`, built-in tools and their items) is kept in `_openai_only` as a deferred refusal:
an OpenAI candidate takes the request, any other refuses it with a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

from .canonical import tool_call

# Fields a translation may ignore: bookkeeping that does not change the answer.
_IGNORED = frozenset({"metadata", "include", "truncation", "service_tier", "prompt_cache_key",
                      "safety_identifier", "store", "user", "stream_options", "top_logprobs", "prompt_cache_retention"})
_TRANSLATED = frozenset({"model", "input", "instructions", "tools", "tool_choice", "max_output_tokens",
                         "temperature", "top_p", "parallel_tool_calls", "text", "reasoning", "stream"})
_ROLES = ("user", "assistant", "system", "developer")


class ResponsesError(ValueError):
    """A request routecar cannot accept on any upstream (answered as 400)."""

    def __init__(self, param: str, message: str):
        super().__init__(message)
        self.param = param
        self.message = message


class OpenAIOnly(ResponsesError):
    """Valid Responses API with no chat form: only an OpenAI upstream can take it."""


class RawBody:
    """The app's request bytes, for passthrough; opaque in cache keys (constant repr)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes):
        self.raw = raw

    def __repr__(self) -> str:
        return "RawBody"


def responses_to_canonical(body: dict[str, Any], raw: bytes | None = None) -> dict[str, Any]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ResponsesError("model", "Missing required parameter: 'model'.")
    if body.get("input") is None and body.get("previous_response_id") is None:
        raise ResponsesError("input", "Missing required parameter: 'input'.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ResponsesError("stream", "'stream' must be a boolean.")
    refusal = _stateful(body)
    try:
        out = _translated(body)
    except OpenAIOnly as exc:
        out = _routing_only(body)
        refusal = refusal or (exc.param, exc.message)
    except ResponsesError:
        if refusal is None:
            raise
        out = _routing_only(body)  # e.g. no input beside previous_response_id: OpenAI has the rest
    if refusal is not None:
        out["_openai_only"] = refusal
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    if raw is not None:
        out["_responses_raw"] = RawBody(raw)
    return out


def _stateful(body: dict[str, Any]) -> tuple[str, str] | None:
    """What only OpenAI's stored state can serve."""
    if body.get("previous_response_id") is not None:
        return "previous_response_id", "'previous_response_id' needs OpenAI's stored responses"
    if body.get("store") is True:
        return "store", "'store: true' keeps the response at OpenAI"
    if body.get("conversation") is not None:
        return "conversation", "'conversation' needs OpenAI's stored conversations"
    if body.get("background") is True:
        return "background", "'background' responses run at OpenAI"
    return None


def _routing_only(body: dict[str, Any]) -> dict[str, Any]:
    """Enough for routing and estimates when the request has no chat form."""
    inp = body.get("input")
    text = inp if isinstance(inp, str) else ""
    out: dict[str, Any] = {"model": body["model"], "messages": [{"role": "user", "content": text}]}
    if isinstance(inp, list):
        out["messages"] = [{"role": "user", "content": str(inp)[:100_000]}]
    if isinstance(body.get("max_output_tokens"), int):
        out["max_tokens"] = body["max_output_tokens"]
    return out


def _translated(body: dict[str, Any]) -> dict[str, Any]:
    for key in body:
        if key not in _TRANSLATED and key not in _IGNORED and key not in (
                "previous_response_id", "conversation", "background"):
            raise OpenAIOnly(key, f"'{key}' has no equivalent outside OpenAI")
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    inp = body.get("input")
    if isinstance(inp, str):
        messages.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        for i, item in enumerate(inp):
            _item(item, i, messages)
    elif inp is not None:
        raise ResponsesError("input", "'input' must be a string or a list of input items.")
    if not messages:
        raise ResponsesError("input", "'input' must hold at least one message.")
    out: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "parallel_tool_calls"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None and out.get("tools"):
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = _format(body.get("text"))
    if fmt is not None:
        out["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        out["reasoning_effort"] = reasoning["effort"]
    return out


def _item(item: Any, i: int, messages: list[dict[str, Any]]) -> None:
    where = f"input[{i}]"
    if not isinstance(item, dict):
        raise ResponsesError("input", f"{where} must be an object.")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise ResponsesError("input", f"{where}.role must be one of {', '.join(_ROLES)}.")
        messages.append({"role": role, "content": _content(item.get("content"), where, role)})
    elif kind == "function_call":
        call = tool_call(item.get("call_id"), item.get("name"), None)
        call["function"]["arguments"] = item.get("arguments") if isinstance(item.get("arguments"), str) else "{}"
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant" and last.get("tool_calls") is not None:
            last["tool_calls"].append(call)  # parallel calls: one assistant turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        if isinstance(output, list):
            output = "".join(p.get("text", "") for p in output if isinstance(p, dict))
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output or ""})
    elif kind == "reasoning":
        return  # the model's own reasoning from an earlier turn: only OpenAI can read it back
    else:
        raise OpenAIOnly("input", f"{where}: item type '{kind}' has no equivalent outside OpenAI")


def _content(content: Any, where: str, role: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ResponsesError("input", f"{where}.content must be a string or a list of parts.")
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal") or ""})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file" and isinstance(part.get("file_data"), str):
            file: dict[str, Any] = {"file_data": part["file_data"]}
            if part.get("filename"):
                file["filename"] = part["filename"]
            parts.append({"type": "file", "file": file})
        else:
            raise OpenAIOnly("input", f"{where}.content[{j}]: part type '{kind}' has no equivalent outside OpenAI "
                                      "(file ids and image ids live at OpenAI)")
    if role == "assistant":  # chat assistant turns are text
        return "".join(p.get("text", "") for p in parts)
    return parts


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise ResponsesError("tools", "'tools' must be an array.")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise OpenAIOnly("tools", f"tools[{i}]: tool type '{kind}' has no equivalent outside OpenAI")
        if not isinstance(tool.get("name"), str):
            raise ResponsesError("tools", f"tools[{i}].name is required.")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise OpenAIOnly("tool_choice", "this 'tool_choice' has no equivalent outside OpenAI")


def _format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
        return {"type": "json_schema", "json_schema": spec}
    raise ResponsesError("text.format", f"text.format type '{fmt['type']}' is not known.")
