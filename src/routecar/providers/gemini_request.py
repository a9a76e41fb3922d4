"""Canonical (OpenAI chat) request -> Gemini `generateContent` request body.

Gemini keys tool results by function *name*, not by call id, so the name is looked up from
the assistant turn that made the call. Gemini 2.5+/3 attach a `thoughtSignature` to function
calls that must be sent back with them; OpenAI has nowhere to keep it, so the response side
appends it to the synthesized tool call id and this side splits it off again.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from . import request_translation as rt
from . import unsupported_params as up
from .base import ChatCall, Translation

# Joins a synthesized tool call id and the Gemini thought signature it carries.
SIGNATURE_SEP = "__sig__"

# Gemini has these as candidateCount, presencePenalty, frequencyPenalty and seed.
UNSUPPORTED: dict[str, up.Inert] = up.extras_except("n", "presence_penalty", "frequency_penalty", "seed")

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


def build_body(call: ChatCall, notes: Translation) -> dict[str, Any]:
    body = call.body
    up.check_unsupported(body, UNSUPPORTED, call.provider, "gemini", notes)
    up.check_openai_only(body, "gemini")
    up.check_anthropic_only(body, call.provider, "gemini", notes)
    system, contents = convert_messages(body)
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    config = _generation_config(body, call.default_max_tokens)
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
    max_tokens = rt.max_output_tokens(body, default_max_tokens)
    if max_tokens:
        config["maxOutputTokens"] = max_tokens
    stop = rt.stop_sequences(body)
    if stop:
        config["stopSequences"] = stop
    if isinstance(body.get("n"), int) and body["n"] > 1:
        config["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        spec = fmt.get("json_schema")
        if fmt["type"] == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            config["responseSchema"] = clean_schema(spec["schema"])
    return config


def convert_messages(body: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, alternating user/model contents)."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> function name, for functionResponse parts
    for i, msg, role in rt.messages_of(body, "gemini"):
        if role in ("system", "developer"):
            text = rt.text_of(msg.get("content"))
            if text:
                system.append(text)
        elif role == "user":
            rt.add_turn(contents, "user", "parts", rt.user_parts(msg.get("content"), i, _part))
        elif role == "assistant":
            rt.add_turn(contents, "model", "parts", _model_parts(msg, i, names))
        else:
            rt.add_turn(contents, "user", "parts", [_function_response(msg, i, names)])
    return system, contents


def _part(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"text": part["text"]} if part.get("text") else None
    if kind in ("image_url", "file"):
        url = rt.part_url(part)
        if not isinstance(url, str) or not url:
            raise rt.TranslationError(param, f"'{param}' needs a URL or inline data")
        parsed = rt.parse_data_url(url)
        if parsed:
            return {"inlineData": {"mimeType": parsed[0], "data": parsed[1]}}
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise rt.TranslationError(param, f"content part type '{kind}' is not supported by gemini providers")


def _model_parts(msg: dict[str, Any], i: int, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = rt.text_of(msg.get("content"))
    if text:
        parts.append({"text": text})
    for _, call, name, arguments in rt.tool_calls_of(msg, i):
        call_id = str(call.get("id") or "")
        names[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": arguments}}
        _, sep, signature = call_id.partition(SIGNATURE_SEP)
        if sep and signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _function_response(msg: dict[str, Any], i: int, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(str(msg.get("tool_call_id") or "")) or msg.get("name")
    if not name:
        raise rt.TranslationError(
            f"messages[{i}].tool_call_id", "tool message does not answer a tool call made earlier in the conversation"
        )
    text = rt.text_of(msg.get("content"))
    parsed = rt.json_object(text) if text.lstrip().startswith("{") else None
    # Gemini wants an object; a tool's JSON object result goes as is, anything else wrapped.
    return {"functionResponse": {"name": name, "response": parsed if parsed is not None else {"content": text}}}


def _declaration(tool: Any, i: int) -> dict[str, Any]:
    out, params = rt.function_tool(tool, i, "gemini")
    # Gemini rejects an OBJECT schema with no properties: a no-argument tool omits parameters.
    if isinstance(params, dict) and (params.get("properties") or params.get("type") not in (None, "object")):
        out["parameters"] = clean_schema(params)
    return out


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _CALLING_MODES:
        return {"mode": _CALLING_MODES[choice]}
    if name := rt.chosen_function(choice):
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise rt.bad_tool_choice()


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
