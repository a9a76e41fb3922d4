"""Cascade checks: is a cheap step's answer good enough, or must the next step try?

The dispatcher runs a cascade route's steps in order and calls `check_answer` on each
complete (non-streamed) answer; the first failed check's name goes to the attempt log, and the
request moves on to the next step.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

import orjson

from .jsonschema import validate

CHECKS = ("json", "json_schema", "finish_reason", "non_empty", "regex")


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _choice(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = answer.get("choices") or ()
    return choices[0] if choices and isinstance(choices[0], dict) else {}


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _parse(text: str) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(text)
    except orjson.JSONDecodeError:
        return False, None


def check_answer(answer: Mapping[str, Any], checks: tuple, request_body: Mapping[str, Any]) -> str | None:
    """The name of the first check `answer` (a canonical chat.completion) fails, else None.

    Checks: "json" (content parses as JSON), "json_schema" (content validates against the
    request's response_format.json_schema.schema), "finish_reason" (not "length"),
    "non_empty" (content or tool calls present), ("regex", PATTERN) (content matches).
    """
    choice = _choice(answer)
    message = choice.get("message") or {}
    text = _content(message)
    for check in checks:
        if isinstance(check, (tuple, list)):
            name, arg = check[0], (check[1] if len(check) > 1 else "")
        elif isinstance(check, Mapping):  # {"regex": PATTERN} as YAML may give it
            name, arg = next(iter(check.items()))
        else:
            name, arg = check, None
        if name == "json":
            if not _parse(text)[0]:
                return "json"
        elif name == "json_schema":
            if not _schema_ok(text, request_body):
                return "json_schema"
        elif name == "finish_reason":
            if choice.get("finish_reason") == "length":
                return "finish_reason"
        elif name == "non_empty":
            if not text.strip() and not message.get("tool_calls"):
                return "non_empty"
        elif name == "regex":
            if _regex(str(arg)).search(text) is None:
                return "regex"
        else:
            raise ValueError(f"unknown cascade check '{name}' (one of: {', '.join(CHECKS)})")
    return None


def _schema_ok(text: str, request_body: Mapping[str, Any]) -> bool:
    fmt = request_body.get("response_format")
    schema = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
    ok, value = _parse(text)
    if not ok:
        return False
    # No schema in the request: the best we can hold the answer to is being JSON.
    return schema is None or validate(value, schema) is None
