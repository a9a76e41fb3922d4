"""Cascade checks: is a cheap step's answer good enough, or must the next step try?

The dispatcher runs a cascade route's steps in order and calls `check_answer` on each
complete (non-streamed) answer; the first failed check's name goes to the attempt log, and the
request moves on to the next step.

`json_schema` validates with the `jsonschema` library (the dialect a schema names, draft
2020-12 when it names none), imported on the first such check only: it costs ~150 ms to
import, which a config without schema checks never pays. Validators are compiled once per
distinct schema (a bounded cache: apps send the same few schemas over and over).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Mapping

import orjson


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
    return schema is None or schema_error(value, schema) is None


def schema_error(value: Any, schema: Any) -> str | None:
    """None when `value` satisfies `schema`, else the first error as "path: message".

    A schema that is itself invalid cannot judge an answer: only being JSON is required then.
    A schema whose references loop forever fails the answer rather than the request.
    """
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    if validator is None:
        return None
    try:
        error = next(iter(validator.iter_errors(value)), None)
    except RecursionError:
        return "$: schema too deep"
    if error is None:
        return None
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"${path}: {error.message}"


@lru_cache(maxsize=128)
def _validator(schema_json: bytes) -> Any:
    import jsonschema  # noqa: PLC0415 - lazily: see the module docstring

    schema = orjson.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError:
        return None
    return cls(schema)
