"""The declarative definitions: a key declared once is read by the loader and described, with
its type, default, bounds and description, in the schema and the docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from routecar.config.alternatives import Tagged
from routecar.config.fields import Issues
from routecar.config.kinds import INVALID, Defs, Duration, Enum, Int, Str
from routecar.config.schema import json_schema
from routecar.config.shapes import Key, Map, Object


@dataclass(frozen=True)
class Pool:
    size: int = 8
    idle: float = 30.0
    mode: str = "fifo"


POOL = Object(
    Key("size", Int(min=1, max=64), "connections kept"),
    Key("idle", Duration(positive=True), "idle time before a connection closes"),
    Key("mode", Enum(("fifo", "lifo")), "which idle connection is reused first"),
    Key("label", Str(), "a name for logs", nullable=True),
    defaults=Pool,
    name="pool",
)


def parse(kind: Any, value: Any) -> tuple[Any, list[str]]:
    issues = Issues()
    return kind.parse(value, "pool", issues), issues.errors


def test_a_key_added_appears_in_the_schema_with_type_default_bounds_and_description() -> None:
    defs = Defs()
    assert POOL.json(defs) == {"$ref": "#/$defs/pool"}
    size = defs.schemas["pool"]["properties"]["size"]
    assert size["description"] == "connections kept"
    assert size["default"] == 8  # from the dataclass: one place for each default
    assert {"type": "integer", "minimum": 1, "maximum": 64} in size["anyOf"]
    idle = defs.schemas["pool"]["properties"]["idle"]
    assert idle["default"] == "30s" and {"$ref": "#/$defs/positive_duration"} in idle["anyOf"]
    assert defs.schemas["pool"]["additionalProperties"] is False


def test_the_loader_reads_the_same_key_with_its_default_and_bounds() -> None:
    values, errors = parse(POOL, {"size": 4})
    assert errors == [] and dict(values) == {"size": 4, "idle": 30.0, "mode": "fifo", "label": None}
    assert values.given == {"size"}
    values, errors = parse(POOL, {"size": 65, "idle": "0s", "mode": "lifu", "sise": 1})
    assert errors == [
        "pool.sise: unknown key (did you mean 'size'?)",
        "pool.size: must be an integer between 1 and 64, got number 65",
        "pool.idle: must be a duration > 0, got string '0s'",
        "pool.mode: must be one of fifo, lifo, got 'lifu' (did you mean 'lifo'?)",
    ]
    assert values["size"] == 8 and values.given == set()  # a bad value falls back to the default


def test_null_means_not_set_unless_the_key_gives_null_a_meaning() -> None:
    values, errors = parse(POOL, {"size": None, "label": None})
    assert errors == [] and values["size"] == 8 and values["label"] is None
    assert values.given == {"label"}
    assert parse(POOL, None)[0]["mode"] == "fifo"  # an empty section is every default
    assert parse(POOL, [1])[1] == ["pool: must be a mapping, got a list"]


def test_a_tag_chooses_the_keys_a_mapping_may_have() -> None:
    shared = Key("weight", Int(min=0), "share")
    shape = Tagged("type", "what it is", (Key("name", Str(), "its name"),),
                   {"a": (shared,), "b": (shared, Key("extra", Str(), "b only"))}, name="thing")
    assert parse(shape, {"type": "b", "weight": 1, "extra": "x"})[1] == []
    assert parse(shape, {"type": "a", "extra": "x"})[1] == [
        "pool.extra: unknown key (expected one of: type, name, weight)"]
    values, errors = parse(shape, {"type": "c", "extra": "x", "name": 5})
    assert errors == ["pool.type: must be one of a, b, got 'c'", "pool.name: must be a string, got number 5"]
    assert values["type"] is None
    defs = Defs()
    shape.json(defs)
    assert set(defs.schemas["thing_b"]["properties"]) == {"type", "name", "weight", "extra"}
    assert defs.schemas["thing_a"]["additionalProperties"] is False


def test_names_of_a_map_are_checked_and_kept_apart_from_bad_bodies() -> None:
    shape = Map(Int(), key_pattern=r"[a-z]+", key_message="names are lower-case letters, got {found}")
    entries, errors = parse(shape, {"ok": 1, "Bad": 2, "worse": "x"})
    assert errors == ["pool.Bad: names are lower-case letters, got string 'Bad'",
                      "pool.worse: must be an integer, got string 'x'"]
    assert dict(entries) == {"ok": 1} and entries.names == ["ok", "worse"]


def test_two_shapes_may_not_share_a_name() -> None:
    defs = Defs()
    Object(Key("a", Int(), "a"), name="same").json(defs)
    with pytest.raises(ValueError, match="'same'"):
        Object(Key("b", Int(), "b"), name="same").json(defs)


def _objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [o for item in node for o in _objects(item)]
    if not isinstance(node, dict):
        return []
    found = [node] if "properties" in node or "patternProperties" in node else []
    return found + [o for value in node.values() for o in _objects(value)]


def test_every_mapping_of_the_schema_refuses_unknown_keys() -> None:
    schema = json_schema()
    for obj in _objects(schema["$defs"]) + _objects(schema["properties"]):
        # A tagged mapping only picks its variant (each variant refuses unknown keys itself).
        if "allOf" in obj:
            assert all("then" in branch for branch in obj["allOf"])
            continue
        if obj.get("type") in ("object", ["object", "null"]) and "if" not in obj:
            assert obj.get("additionalProperties") is False or "propertyNames" in obj, obj


def test_every_key_has_a_description() -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for name, prop in {**node.get("properties", {}), **node.get("patternProperties", {})}.items():
                assert prop.get("description"), name
            for name, value in node.items():
                if name != "if":  # a tagged mapping's variant test, not a declaration
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json_schema())


def test_invalid_is_the_only_failure_value() -> None:
    assert parse(Int(), "x")[0] is INVALID
