"""Cascade answer checks, json_schema included (validated by the jsonschema library)."""

from __future__ import annotations

import pytest

from routecar.router.cascade import check_answer, schema_error as validate


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
    ('{"kind": "person"}', "$: 'name' is a required property"),
    ('{"name": "Ada", "kind": "robot"}', "is not one of"),
    ('{"name": "Ada", "kind": "person", "age": "old"}', "$.age: 'old' is not of type 'integer'"),
    ('{"name": "Ada", "kind": "person", "age": -1}', "less than the minimum"),
    ('{"name": "Ada", "kind": "person", "extra": 1}', "('extra' was unexpected)"),
    ('{"name": "Ada", "kind": "person", "tags": ["a", 2]}', "$.tags[1]: 2 is not of type 'string'"),
    ('{"name": "Ada", "kind": "person", "tags": ["a", "b", "c", "d"]}', "is too long"),
    ('{"name": "Ada", "kind": "person", "address": {}}', "$.address: 'city' is a required property"),
    ('{"name": "", "kind": "person"}', "should be non-empty"),
    ('[1, 2]', "$: [1, 2] is not of type 'object'"),
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


@pytest.mark.parametrize("schema,good,bad", [
    # What the old hand-written validator got wrong: oneOf checked as anyOf, and pattern,
    # uniqueItems, exclusiveMinimum silently ignored, so a cascade let bad answers through.
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5, 1),
    ({"type": "string", "pattern": "^[a-z]+$"}, "abc", "ABC"),
    ({"type": "array", "uniqueItems": True}, [1, 2], [1, 1]),
    ({"type": "number", "exclusiveMinimum": 0}, 0.1, 0),
])
def test_keywords_the_old_validator_ignored(schema, good, bad):
    assert validate(good, schema) is None
    assert validate(bad, schema) is not None


def test_an_invalid_schema_only_requires_json():
    body = {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "no-such-type"}}}}
    assert check_answer(answer('{"a": 1}'), ("json_schema",), body) is None
    assert check_answer(answer("nope"), ("json_schema",), body) == "json_schema"


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
