"""Cascade answer checks, including the small JSON Schema validator."""

from __future__ import annotations

import pytest

from routecar.router.cascade import check_answer
from routecar.router.jsonschema import validate


def answer(content="", finish="stop", tool_calls=None) -> dict:
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"object": "chat.completion", "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "kind": {"enum": ["person", "company"]},
        "address": {"$ref": "#/$defs/address"},
        "score": {"type": ["number", "null"]},
    },
    "required": ["name", "kind"],
    "additionalProperties": False,
    "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}},
                          "required": ["city"]}},
}
BODY = {"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}}


def test_all_checks_pass():
    ok = answer('{"name": "Ada", "kind": "person", "age": 36, "tags": ["x"], "address": {"city": "London"}}')
    assert check_answer(ok, ("json", "json_schema", "finish_reason", "non_empty", ("regex", "Ada")), BODY) is None


def test_json_check():
    assert check_answer(answer("Sure! {\"a\": 1}"), ("json",), {}) == "json"
    assert check_answer(answer('{"a": 1}'), ("json",), {}) is None


@pytest.mark.parametrize("content,error", [
    ('{"kind": "person"}', "missing required property 'name'"),
    ('{"name": "Ada", "kind": "robot"}', "is not one of"),
    ('{"name": "Ada", "kind": "person", "age": "old"}', "$.age: expected integer, got string"),
    ('{"name": "Ada", "kind": "person", "age": -1}', "below minimum"),
    ('{"name": "Ada", "kind": "person", "extra": 1}', "unexpected property 'extra'"),
    ('{"name": "Ada", "kind": "person", "tags": ["a", 2]}', "$.tags[1]: expected string"),
    ('{"name": "Ada", "kind": "person", "tags": ["a", "b", "c", "d"]}', "more than 3 items"),
    ('{"name": "Ada", "kind": "person", "address": {}}', "$.address: missing required property 'city'"),
    ('{"name": "", "kind": "person"}', "shorter than 1"),
    ('[1, 2]', "$: expected object, got array"),
])
def test_json_schema_violations(content, error):
    import orjson

    assert error in validate(orjson.loads(content), SCHEMA)
    assert check_answer(answer(content), ("json_schema",), BODY) == "json_schema"


def test_json_schema_edge_types():
    assert validate({"name": "A", "kind": "company", "score": None, "age": 3.0}, SCHEMA) is None
    assert validate(True, {"type": "integer"}) is not None  # booleans are not numbers
    assert validate(1, {"anyOf": [{"type": "string"}, {"type": "integer"}]}) is None
    assert validate(1.5, {"anyOf": [{"type": "string"}, {"type": "integer"}]}) is not None
    assert validate({"x": 1}, {"additionalProperties": {"type": "string"}}) is not None
    loop = {"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}
    assert "too deep" in validate(1, loop)


def test_json_schema_without_a_schema_in_the_request_only_requires_json():
    assert check_answer(answer('{"a": 1}'), ("json_schema",), {}) is None
    assert check_answer(answer("nope"), ("json_schema",), {}) == "json_schema"


def test_finish_reason_non_empty_and_regex():
    assert check_answer(answer("cut", finish="length"), ("finish_reason",), {}) == "finish_reason"
    assert check_answer(answer("   "), ("non_empty",), {}) == "non_empty"
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert check_answer(answer(None, tool_calls=calls), ("non_empty",), {}) is None
    assert check_answer({"choices": []}, ("non_empty",), {}) == "non_empty"
    assert check_answer(answer("order 12345"), (("regex", r"\d{5}"),), {}) is None
    assert check_answer(answer("no number"), (("regex", r"\d{5}"),), {}) == "regex"
    assert check_answer(answer("no number"), ({"regex": r"\d"},), {}) == "regex"


def test_first_failed_check_is_reported():
    bad = answer("not json", finish="length")
    assert check_answer(bad, ("non_empty", "finish_reason", "json"), {}) == "finish_reason"
    assert check_answer(bad, ("json", "finish_reason"), {}) == "json"
    with pytest.raises(ValueError, match="unknown cascade check"):
        check_answer(bad, ("vibes",), {})
