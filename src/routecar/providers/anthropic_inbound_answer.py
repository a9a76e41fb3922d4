"""A canonical answer as an Anthropic `message` (or error), for apps calling `POST /v1/messages`.

The whole message is built here; the stream encoder (`anthropic_inbound_stream`) builds the
same message piece by piece, so the pieces both need (id, stop reason, usage, the message
and tool_use block shapes) live here too, as does the error answer.
"""

from __future__ import annotations

from typing import Any

from . import canonical
from .request_translation import json_object, text_of

# The error type an app gets for each status routecar answers with (503, "no capacity", reads as
# overloaded so Anthropic SDKs retry it as they retry Anthropic's own 529).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def canonical_to_message(resp: dict[str, Any], requested_model: str) -> dict[str, Any]:
    choices = resp.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = text_of(message.get("content")) or message.get("refusal") or ""
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or ()
    for call in calls:
        content.append(tool_use_block(call, _tool_input((call.get("function") or {}).get("arguments"))))
    stop_reason = stop_reason_for(choice.get("finish_reason"), bool(calls))
    return message_shape(message_id(resp.get("id")), requested_model, content, stop_reason, anthropic_usage(resp.get("usage")))


def error_type_for_status(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(message: str, error_type: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def message_shape(
    msg_id: str, model: str, content: list[dict[str, Any]], stop_reason: str | None, usage: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def tool_use_block(call: dict[str, Any], tool_input: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    return {"type": "tool_use", "id": call.get("id") or canonical.random_id("toolu_"), "name": fn.get("name") or "", "input": tool_input}


def stop_reason_for(finish_reason: Any, has_tool_calls: bool) -> str:
    # Some OpenAI-compatible servers answer tool calls with finish_reason "stop".
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    return STOP_REASONS.get(finish_reason, "end_turn")


def anthropic_usage(usage: Any) -> dict[str, int]:
    """Canonical usage -> Anthropic's, where input_tokens excludes cache reads and writes."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    cached = canonical.int_of(details.get("cached_tokens"))
    created = canonical.int_of(details.get("cache_creation_tokens"))
    return {
        "input_tokens": max(canonical.int_of(usage.get("prompt_tokens")) - cached - created, 0),
        "output_tokens": canonical.int_of(usage.get("completion_tokens")),
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": cached,
    }


def message_id(canonical_id: Any) -> str:
    """`chatcmpl-msg_X` (an Anthropic id passed through) -> `msg_X`; anything else -> `msg_...`."""
    raw = str(canonical_id or "").removeprefix("chatcmpl-")
    if not raw:
        return canonical.random_id("msg_")
    return raw if raw.startswith("msg_") else "msg_" + raw


def _tool_input(arguments: Any) -> dict[str, Any]:
    if not arguments:
        return {}
    parsed = json_object(arguments)
    # A model that produced broken JSON: keep its text rather than silently losing it.
    return parsed if parsed is not None else {"_raw_arguments": arguments}
