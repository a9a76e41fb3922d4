"""The loader and the schema agree: for every key the definitions declare, a bad value (wrong
type, out of bounds, not one of the choices) and an unknown key beside it are refused by both,
the loader naming that key's path. Since a key exists only through the definitions, a key
added to them is covered here without a new test; a new mapping or list only needs a place in
documents.COMPLETE (the coverage test says which)."""

from __future__ import annotations

import copy
from typing import Any, Iterator, NamedTuple

import pytest

from routecar.config import ConfigError, parse_config
from routecar.config.alternatives import Either, Tagged
from routecar.config.definitions import SIDECAR
from routecar.config.docs import rows
from routecar.config.fields import at, join
from routecar.config.kinds import (
    Bool,
    Duration,
    Enum,
    Int,
    Kind,
    Number,
    Rate,
    Regex,
    Size,
    Str,
)
from routecar.config.providers_section import BaseUrl
from routecar.config.resilience_section import RetryOutcome
from routecar.config.server_section import ListenKind
from routecar.config.shapes import Key, List, Map, Object
from routecar.config.shared_state import RedisUrl

from .documents import as_yaml, complete, schema_accepts, schema_errors

UNKNOWN = "routecar_unknown_key"
# A value no kind of the definitions takes: lists and mappings reject it, and list kinds
# reject its item.
WRONG_TYPE: Any = [{UNKNOWN: 1}]


class Place(NamedTuple):
    keys: tuple[Any, ...]  # where in the document
    path: str  # as the loader names it
    doc_path: str  # as the docs name it
    key: Key | None  # None: an unknown key


def places(kind: Kind, value: Any, keys: tuple[Any, ...], path: str, doc_path: str) -> Iterator[Place]:
    """Every key declared under `value` (a value of `kind`), written or not, and an unknown one."""
    if isinstance(kind, Tagged):
        kind = kind.objects[value[kind.tag.name]]
    if isinstance(kind, Object):
        yield Place((*keys, UNKNOWN), join(path, UNKNOWN), "", None)
        for key in kind.keys:
            names = [n for n in value if kind.key_for(n) is key] if key.pattern else [key.name]
            for name in names:
                inner = (*keys, name)
                yield Place(inner, join(path, name), f"{doc_path}.{key.name}".lstrip("."), key)
                if value.get(name) is not None:
                    yield from places(key.kind, value[name], inner, join(path, name), f"{doc_path}.{key.name}")
    elif isinstance(kind, Map):
        for name, entry in value.items():
            yield from places(kind.of, entry, (*keys, name), join(path, name), f"{doc_path}.{kind.placeholder}")
    elif isinstance(kind, List):
        for i, item in enumerate(value):
            yield from places(kind.of, item, (*keys, i), at(path, i), f"{doc_path}[]")
    elif isinstance(kind, Either):
        branch = next(k for k in kind.kinds if k.accepts(value))
        yield from places(branch, value, keys, path, doc_path)


PLACES = list(places(SIDECAR, complete(), (), "", ""))


def bad_values(kind: Kind) -> list[Any]:
    """Values `kind` must refuse: the wrong type, and each bound and choice overstepped."""
    out: list[Any] = [WRONG_TYPE]
    if isinstance(kind, (Int, Number)):
        out += [kind.min - 1] if kind.min is not None else []
        out += [kind.max + 1] if kind.max is not None else []
        out += [kind.gt] if isinstance(kind, Number) and kind.gt is not None else []
        out += ["12x"]
    elif isinstance(kind, Duration):
        out += ["-1s", "soon", "5 minutes"] + (["0s", 0] if kind.positive else []) + ([kind.max + 1] if kind.max else [])
    elif isinstance(kind, Rate):
        out += [1.5, "150%", -0.1] + ([0, "0%"] if kind.positive else [])
    elif isinstance(kind, Size):
        out += [0, "8 parsecs", 1.5]
    elif isinstance(kind, (Enum,)):
        out += ["routecar-bogus"]
    elif isinstance(kind, Bool):
        out += ["maybe", 1]
    elif isinstance(kind, Regex):
        out += ["a(", ""]
    elif isinstance(kind, Str):
        out += [5] + ([""] if not kind.allow_empty else []) + (["a b\n"] if kind.pattern else [])
    elif isinstance(kind, ListenKind):
        out += [":7300", "::1:7300", "127.0.0.1:99999", 7300]
    elif isinstance(kind, BaseUrl):
        out += ["ftp://x", "http://", "not a url"]
    elif isinstance(kind, RedisUrl):
        out += ["http://redis:6379"]
    elif isinstance(kind, RetryOutcome):
        out += [700, "4xx", True]
    elif isinstance(kind, List):
        out += [{"a": 1}] + [[value] for value in bad_values(kind.of)[1:]]
        out += [[]] if kind.min_items else []
    return out


CASES = [(place, bad) for place in PLACES if place.key is not None for bad in bad_values(place.key.kind)]
CASES += [(place, 1) for place in PLACES if place.key is None]


def put(doc: dict[str, Any], keys: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for key in keys[:-1]:
        node = node[key]
    node[keys[-1]] = value
    return out


def test_the_complete_document_is_valid_for_both() -> None:
    parse_config(as_yaml(complete()), env={})
    assert schema_errors(complete()) == []


def test_every_key_of_the_definitions_is_exercised() -> None:
    reached = {place.doc_path for place in PLACES}
    missing = [row.path for row in rows() if row.path not in reached]
    assert missing == [], "add these to tests/config/documents.py's _COMPLETE, in a mapping or list that reaches them"


@pytest.mark.parametrize(("place", "bad"), CASES, ids=[f"{p.path}={b!r}" for p, b in CASES])
def test_a_bad_value_is_refused_by_both_at_its_key_path(place: Place, bad: Any) -> None:
    doc = put(complete(), place.keys, bad)
    assert not schema_accepts(doc), f"the schema accepts {place.path}: {bad!r}"
    with pytest.raises(ConfigError) as exc:
        parse_config(as_yaml(doc), env={})
    named = [e for e in exc.value.errors if e.startswith((place.path + ":", place.path + ".", place.path + "["))]
    assert named, exc.value.errors


def test_where_the_schema_is_looser_the_loader_still_refuses() -> None:
    """An upper bound on a duration written with units is beyond a regex: the loader alone
    judges it (the schema bounds the number of seconds)."""
    doc = put(complete(), ("shared_state", "redis", "timeout"), "1h")
    assert schema_errors(doc) == []
    with pytest.raises(ConfigError) as exc:
        parse_config(as_yaml(doc), env={})
    assert exc.value.errors == ["shared_state.redis.timeout: must be <= 5s: it bounds every Redis call a request "
                                "waits for, got 1h"]


# Scalar values the loader accepts, each of which the schema must accept too (the schema's
# patterns are written by hand from the loader's readers).
ACCEPTED = [
    (Duration(), [0, 30, 1.5, "500ms", "30s", "5m", "1h", "7d", "1h30m", ".5s", "1.s", " 250ms ", "2", "+2", "5M", "1H30M"]),
    (Duration(positive=True), ["1ms", "0.5s", "1h0m", 0.001, "0.01"]),
    (Rate(), [0, 1, 0.25, "0.5", "1.0", "5%", "100%", "0%", " 12.5 % "]),
    (Rate(positive=True), ["5%", 0.01, "0.5"]),
    (Size(), [1, 1024, "8MiB", "512KB", "1GiB", "2 mb", "100", "1b"]),
    (ListenKind(), ["127.0.0.1:7300", "[::1]:7300", "0.0.0.0:0", "localhost:65535", " my-host:80 "]),
    (BaseUrl(), ["http://x", "https://api.openai.com/v1/", "HTTP://h:8000/v1"]),
    (RetryOutcome(), [429, "5xx", "timeout", "connect", "503", 599, 100]),
    (Int(min=1), [1, "${N}", "${N:-8}"]),
    (Bool(), [True, False, "${FLAG:-true}"]),
    (Enum(("a", "b")), ["a", "${CHOICE}"]),
]


@pytest.mark.parametrize(("kind", "values"), ACCEPTED, ids=[type(k).__name__ for k, _ in ACCEPTED])
def test_the_schema_accepts_what_each_reader_accepts(kind: Kind, values: list[Any]) -> None:
    import jsonschema

    from routecar.config.fields import Interpolated, Issues
    from routecar.config.kinds import INVALID, Defs

    defs = Defs()
    schema = {"$defs": defs.schemas, **kind.json(defs)}
    checker = jsonschema.Draft202012Validator(schema)
    for value in values:
        issues = Issues()
        # The loader sees a ${VAR} only after interpolation: as the text it resolves to.
        resolved = {"${N}": Interpolated("3"), "${N:-8}": Interpolated("8"), "${FLAG:-true}": Interpolated("true"),
                    "${CHOICE}": Interpolated("b")}.get(value, value) if isinstance(value, str) else value
        assert kind.parse(resolved, "k", issues) is not INVALID and not issues.errors, (value, issues.errors)
        assert checker.is_valid(value), value
