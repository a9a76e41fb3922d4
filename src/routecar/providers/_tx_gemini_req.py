"""Canonical (OpenAI chat) request -> Gemini `generateContent` request body.

Gemini keys tool results by function *name*, not by call id, so the name is looked up from
the assistant turn that made the call. Gemini 2.5+/3 attach a `thoughtSignature` to function
calls that must be sent back with them; OpenAI has nowhere to keep it, so the response side
appends it to the synthesized tool call id and this side splits it off again.
"""

from __future__ import annotations

import mimetypes
from typing import Any, Callable

from ..config.model import ProviderConfig
from . import _tx_common as tx
from .base import Translation

# Joins a synthesized tool call id and the Gemini thought signature it carries.
SIGNATURE_SEP = "__sig__"

UNSUPPORTED: dict[str, Callable[[Any], bool]] = {
    "logprobs": tx.is_falsy,
    "top_logprobs": tx.is_zero,
    "logit_bias": tx.is_falsy,
    "audio": tx.is_none,
    "modalities": lambda v: v is None or v == ["text"],
    "prediction": tx.is_none,
    "reasoning_effort": tx.is_none,
    "web_search_options": tx.is_none,
    "functions": tx.is_none,
    "function_call": tx.is_none,
}

# The OpenAPI subset Gemini's `Schema` accepts; anything else (additionalProperties, $schema,
# title, default, examples, ...) makes it answer 400, so schemas are filtered to this set.
_SCHEMA_KEYS = frozenset(
    {"type", "format", "description", "nullable", "items", "properties", "required",
     "minItems", "maxItems", "minProperties", "maxProperties", "minLength", "maxLength",
     "pattern", "minimum", "maximum", "anyOf", "propertyOrdering"}
)
_SCHEMA_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_SCHEMA_DEPTH = 32  # bounds $ref expansion of recursive schemas

_CALLING_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def build_body(
    provider: ProviderConfig, body: dict[str, Any], notes: Translation, default_max_tokens: int | None
) -> dict[str, Any]:
    tx.check_unsupported(body, UNSUPPORTED, provider, "gemini", notes)
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise tx.TranslationError("messages", "'messages' must be a list")
    system, contents = convert_messages(messages)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = _generation_config(body, default_max_tokens)
    if config:
        out["generationConfig"] = config
    if body.get("tools"):
        out["tools"] = [{"functionDeclarations": [_declaration(t, i) for i, t in enumerate(body["tools"])]}]
    choice = body.get("tool_choice")
    if choice is not None and body.get("tools"):
        out["toolConfig"] = {"functionCallingConfig": _calling_config(choice)}
    return out


def _generation_config(body: dict[str, Any], default_max_tokens: int | None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for src, dst in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("_anthropic_top_k", "topK"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ):
        if body.get(src) is not None:
            config[dst] = body[src]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("n"), int) and body["n"] > 1:
        config["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        if fmt["type"] == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            config["responseSchema"] = clean_schema(spec["schema"])
    return config


def convert_messages(messages: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, alternating user/model contents)."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for functionResponse parts
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise tx.TranslationError(f"messages[{i}]", f"'messages[{i}]' must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            text = tx.text_of(msg.get("content"))
            if text:
                system.append(text)
        elif role == "user":
            _append(contents, "user", _user_parts(msg.get("content"), i))
        elif role == "assistant":
            _append(contents, "model", _model_parts(msg, i, names))
        elif role == "tool":
            _append(contents, "user", [_function_response(msg, i, names)])
        else:
            raise tx.TranslationError(f"messages[{i}].role", f"role '{role}' is not supported by gemini providers")
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return  # Gemini rejects a content with no parts
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _user_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise tx.TranslationError(f"messages[{i}].content", "user content must be a string or a list of parts")
    parts = []
    for j, part in enumerate(content):
        converted = _part(part, f"messages[{i}].content[{j}]")
        if converted is not None:
            parts.append(converted)
    return parts


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"text": part["text"]} if part.get("text") else None
    if kind in ("image_url", "file"):
        if kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
        else:
            file = part.get("file") if isinstance(part.get("file"), dict) else {}
            url = file.get("file_data")
        if not isinstance(url, str) or not url:
            raise tx.TranslationError(param, f"'{param}' needs a URL or inline data")
        parsed = tx.parse_data_url(url)
        if parsed:
            return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise tx.TranslationError(param, f"content part type '{kind}' is not supported by gemini providers")


def _model_parts(msg: dict[str, Any], i: int, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = tx.text_of(msg.get("content"))
    if text:
        parts.append({"text": text})
    for j, call in enumerate(msg.get("tool_calls") or ()):
        param = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise tx.TranslationError(param, f"'{param}.function.name' is required")
        call_id = str(call.get("id") or "")
        names[call_id] = fn["name"]
        part: dict[str, Any] = {
            "functionCall": {"name": fn["name"], "args": tx.tool_arguments(fn.get("arguments"), f"{param}.function.arguments")}
        }
        _, sep, signature = call_id.partition(SIGNATURE_SEP)
        if sep and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(msg: dict[str, Any], i: int, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(str(msg.get("tool_call_id") or "")) or msg.get("name")
    if not name:
        raise tx.TranslationError(
            f"messages[{i}].tool_call_id", "tool message does not answer a tool call made earlier in the conversation"
        )
    text = tx.text_of(msg.get("content"))
    try:
        parsed = tx.tool_arguments(text, "content") if text.lstrip().startswith("{") else None
    except tx.TranslationError:
        parsed = None
    # Gemini wants an object; a tool's JSON object result goes as is, anything else wrapped.
    return {"functionResponse": {"name": name, "response": parsed if parsed is not None else {"content": text}}}


def _declaration(tool: Any, i: int) -> dict[str, Any]:
    fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise tx.TranslationError(f"tools[{i}]", "only function tools with a name are supported by gemini providers")
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    params = fn.get("parameters")
    # Gemini rejects an OBJECT schema with no properties: a no-argument tool omits parameters.
    if isinstance(params, dict) and (params.get("properties") or params.get("type") not in (None, "object")):
        out["parameters"] = clean_schema(params)
    return out


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _CALLING_MODES:
        return {"mode": _CALLING_MODES[choice]}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise tx.TranslationError("tool_choice", "tool_choice must be auto, none, required or a named function")


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema reduced to what Gemini's `Schema` accepts, with local `$ref`s inlined."""
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _clean(schema, defs, 0)


def _clean(schema: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return _clean(target, defs, depth + 1) if isinstance(target, dict) else {}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _clean(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = _clean(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            options = [v for v in value if not (isinstance(v, dict) and v.get("type") == "null")]
            if len(options) < len(value):
                out["nullable"] = True
            if len(options) == 1:
                out.update(_clean(options[0], defs, depth + 1))
            else:
                out["anyOf"] = [_clean(v, defs, depth + 1) for v in options]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) < len(value):
                out["nullable"] = True
            if types:
                out["type"] = types[0]
        elif key in ("const", "enum"):
            values = [value] if key == "const" else list(value or ())
            if None in values:
                out["nullable"] = True
            out["enum"] = [v for v in values if v is not None]
        elif key == "format":
            if value in _SCHEMA_FORMATS:
                out[key] = value
        elif key in _SCHEMA_KEYS:
            out[key] = value
    if "enum" in out and "type" not in out and all(isinstance(v, str) for v in out["enum"]):
        out["type"] = "string"  # Gemini only takes enums of type STRING and wants the type said
    return out
