"""Responses API answers <-> canonical chat answers.

`canonical_to_response` builds the `response` object an app gets when a non-OpenAI upstream
answered (translated); `response_to_canonical` reads an OpenAI upstream's `response` object
into the canonical form routecar works with (usage for cost, text for cascade checks and
caches) while the app gets the upstream's own bytes. The stream encoder builds the same
objects piece by piece, so the shapes live here.
"""

from __future__ import annotations

from typing import Any

from . import canonical

_FINISH_STATUS = {"length": ("incomplete", {"reason": "max_output_tokens"}),
                  "content_filter": ("incomplete", {"reason": "content_filter"})}


def response_shell(resp_id: str, created: int, model: str, status: str) -> dict[str, Any]:
    return {"id": resp_id, "object": "response", "created_at": created, "status": status, "error": None,
            "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": model,
            "output": [], "parallel_tool_calls": True, "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None}, "store": False, "temperature": None,
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": None,
            "truncation": "disabled", "usage": None, "metadata": {}}


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [output_text(text)] if status == "completed" else []
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id, "name": name,
            "arguments": arguments}


def responses_usage(usage: Any) -> dict[str, Any]:
    """Canonical usage -> the Responses API's."""
    usage = usage if isinstance(usage, dict) else {}
    prompt_details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    out_details = usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"),
                                                                       dict) else {}
    prompt = canonical.int_of(usage.get("prompt_tokens"))
    completion = canonical.int_of(usage.get("completion_tokens"))
    return {"input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": canonical.int_of(prompt_details.get("cached_tokens"))},
            "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": canonical.int_of(out_details.get("reasoning_tokens"))},
            "total_tokens": prompt + completion}


def canonical_usage(usage: Any) -> dict[str, Any]:
    """The Responses API's usage -> canonical."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("input_tokens_details") if isinstance(usage.get("input_tokens_details"), dict) else {}
    out_details = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
    return canonical.usage(canonical.int_of(usage.get("input_tokens")), canonical.int_of(usage.get("output_tokens")),
                           canonical.int_of(details.get("cached_tokens")),
                           reasoning=canonical.int_of(out_details.get("reasoning_tokens")))


def finish_status(finish_reason: Any) -> tuple[str, dict[str, Any] | None]:
    return _FINISH_STATUS.get(finish_reason, ("completed", None))


def canonical_to_response(answer: dict[str, Any], model: str) -> dict[str, Any]:
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    base = str(answer.get("id") or canonical.random_id(""))
    resp = response_shell("resp_" + base.removeprefix("chatcmpl-"), int(answer.get("created") or 0), model,
                          "completed")
    output: list[dict[str, Any]] = []
    text = message.get("content") or message.get("refusal")
    if isinstance(text, str) and text:
        output.append(message_item("msg_" + base, text))
    for i, call in enumerate(message.get("tool_calls") or ()):
        fn = call.get("function") or {}
        output.append(function_item(f"fc_{base}_{i}", str(call.get("id") or ""), str(fn.get("name") or ""),
                                    str(fn.get("arguments") or "")))
    status, details = finish_status(choice.get("finish_reason"))
    resp.update(status=status, incomplete_details=details, output=output, usage=responses_usage(answer.get("usage")))
    return resp


def response_to_canonical(data: dict[str, Any], upstream_model: str) -> dict[str, Any]:
    """An OpenAI `response` object read as a canonical chat answer."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in data.get("output") or ():
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            texts.extend(p.get("text") or "" for p in item.get("content") or () if isinstance(p, dict)
                         and p.get("type") == "output_text")
        elif item.get("type") == "function_call":
            calls.append({"id": item.get("call_id"), "type": "function",
                          "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""}})
    details = data.get("incomplete_details") if isinstance(data.get("incomplete_details"), dict) else {}
    if data.get("status") == "incomplete":
        finish = "content_filter" if details.get("reason") == "content_filter" else "length"
    else:
        finish = "tool_calls" if calls else "stop"
    choice = canonical.choice(0, "".join(texts) if texts else None, calls, None, finish)
    return canonical.completion(str(data.get("id") or ""), int(data.get("created_at") or 0),
                                str(data.get("model") or upstream_model), [choice], canonical_usage(data.get("usage")))
