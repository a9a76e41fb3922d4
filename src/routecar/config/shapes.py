"""Mappings and lists of kinds: the shapes `sidecar.yaml` sections are built from.

`Object` is a mapping with fixed keys, each a `Key` (name, kind, one-line description, default,
required). `Map` is a mapping of names the user chooses (`providers`, `models`...) and `List` a
list. Each parses, with every problem recorded at its key path, and describes itself in the JSON
Schema and the docs (see kinds.py); alternatives.py has the shapes that depend on what is
written (`Either`, `Tagged`).

Parsing an `Object` yields `Values`: a dict of every declared key, the written value when it is
valid and the default otherwise, which the section code then checks across keys and turns into
the frozen objects of model.py. YAML null (an empty value) means "not set": the default applies,
or "is required" when there is none. Only keys whose null has a meaning of its own
(`retention.max_rows: null`, no row cap) declare `nullable=True` and get None.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Iterable, Mapping

from .errors import found
from .fields import Issues, at, join, suggest
from .kinds import INVALID, Defs, Kind, Schema


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


# A key without a default of its own (see Key.default).
UNSET: Any = _Unset()


@dataclasses.dataclass(frozen=True)
class Key:
    """One key of an `Object`: its name, kind, one-line description and default.

    The default comes from the Object's `defaults` (a dataclass of model.py, or a mapping) when
    not given here, so model.py stays the one place a default is written. `pattern` makes this
    a family of keys (`tags.KEY`): `name` is then how the docs write it, and `pattern` the regex
    the keys match.
    """

    name: str
    kind: Kind
    doc: str
    default: Any = UNSET
    required: bool = False
    nullable: bool = False
    pattern: str | None = None

    def schema(self, defs: Defs) -> Schema:
        out = dict(self.kind.json(defs))
        if not self.required:
            out = _or_null(out)
        out["description"] = self.doc
        if self.default is not UNSET and self.default is not None:
            out["default"] = self.kind.show(self.default)
        return out


def _or_null(schema: Schema) -> Schema:
    """An optional key may be written empty (YAML null): it then takes its default."""
    if "oneOf" in schema and "$ref" not in schema:
        return {**schema, "oneOf": [*schema["oneOf"], {"type": "null"}]}
    if "anyOf" in schema and "$ref" not in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    if isinstance(schema.get("type"), str) and "$ref" not in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


class Values(dict):  # type: ignore[type-arg]
    """An Object's keys as parsed; `given` holds the keys written with a valid value."""

    __slots__ = ("path", "given", "raw")

    def __init__(self, path: str, raw: Mapping[Any, Any]) -> None:
        super().__init__()
        self.path = path
        self.given: set[str] = set()
        self.raw = raw

    def path_of(self, key: str) -> str:
        return join(self.path, key)

    def located(self, key: str) -> list[tuple[str, Any]]:
        """(path, item) of a list key's valid items, each at its index as written."""
        items = self[key]
        if isinstance(items, Items):
            return list(zip(items.paths, items))
        return [(at(self.path_of(key), i), item) for i, item in enumerate(items or ())]


class Items(list):  # type: ignore[type-arg]
    """A List's valid items; `paths` holds where each was written (invalid ones are left out)."""

    __slots__ = ("paths",)

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []


class Entries(dict):  # type: ignore[type-arg]
    """A Map's entries whose bodies are valid; `names` holds every valid name, in order."""

    __slots__ = ("path", "names")

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.names: list[str] = []


def _default_from(source: Any, name: str) -> Any:
    if source is None:
        return UNSET
    if isinstance(source, Mapping):
        return source.get(name, UNSET)
    for f in dataclasses.fields(source):
        if f.name == name:
            # Required fields and default factories (unhashable mappings) have no plain default.
            return UNSET if f.default is dataclasses.MISSING else f.default
    return UNSET


def with_default(key: Key, defaults: Any) -> Key:
    """`key` with its default read from `defaults` when it has none of its own."""
    if key.default is UNSET and not key.kind.container:
        return dataclasses.replace(key, default=_default_from(defaults, key.name))
    return key


def mapping(value: Any, path: str, issues: Issues) -> dict[Any, Any] | None:
    """`value` as a mapping to read, or None after an error; null is an empty mapping."""
    if value is None:
        return {}  # a section whose entries are all commented out still parses
    if not isinstance(value, dict):
        issues.error(path, f"must be a mapping, got {found(value)}")
        return None
    return value


class Object(Kind):
    """A mapping with declared keys; any other key is an error.

    `defaults`: a dataclass or mapping whose same-named fields give the keys their defaults.
    `sparse`: only the keys written appear in the Values, in the order written (a rule's
    conditions: a condition left out is no condition, not a default one).
    `on_unknown(key, path, issues)`: reports a key that is not declared, when the generic
    "unknown key (did you mean ...)" would not help.
    `example`: YAML text of a whole section, shown in the docs and the schema.
    """

    container = True

    def __init__(
        self,
        *keys: Key,
        defaults: Any = None,
        name: str | None = None,
        doc: str = "",
        sparse: bool = False,
        on_unknown: Callable[[Any, str, Issues], None] | None = None,
        example: str | None = None,
        also_allowed: Iterable[str] = (),
    ) -> None:
        self.keys = tuple(with_default(key, defaults) for key in keys)
        self.fixed = {k.name: k for k in self.keys if k.pattern is None}
        self.patterned = [(re.compile(k.pattern), k) for k in self.keys if k.pattern is not None]
        if len(self.fixed) + len(self.patterned) != len(self.keys):
            raise ValueError(f"a key is declared twice in {name or 'an object'}")
        self.ref_name = name
        self.doc = doc
        self.sparse = sparse
        self.on_unknown = on_unknown
        self.example = example
        # Keys the unknown-key check lets through without parsing them (see Tagged).
        self.allowed = (*self.fixed, *(n for n in also_allowed if n not in self.fixed))
        self.required = tuple(k.name for k in self.keys if k.required)

    def key_for(self, name: Any) -> Key | None:
        if not isinstance(name, str):
            return None
        key = self.fixed.get(name)
        if key is None:
            key = next((k for regex, k in self.patterned if regex.fullmatch(name)), None)
        return key

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        data = mapping(value, path, issues)
        if data is None:
            return INVALID
        self.check_keys(data, path, issues)
        for name in self.required:
            if data.get(name) is None:
                issues.error(join(path, name), "is required")
        out = Values(path, data)
        if self.sparse:
            for name in data:
                key = self.key_for(name)
                if key is not None and data[name] is not None:
                    parsed = key.kind.parse(data[name], join(path, name), issues)
                    if parsed is not INVALID:
                        out[name] = parsed
                        out.given.add(name)
            return out
        for key in self.keys:
            if key.pattern is None:
                self._read(key, key.name, data, out, issues)
        for name in data:
            key = self.key_for(name)
            if key is not None and key.pattern is not None:
                self._read(key, name, data, out, issues)
        return out

    def check_keys(self, data: Mapping[Any, Any], path: str, issues: Issues) -> None:
        """Report every key of `data` that is not declared here."""
        for name in data:
            if (isinstance(name, str) and name in self.allowed) or self.key_for(name) is not None:
                continue
            if self.on_unknown is not None:
                self.on_unknown(name, join(path, name), issues)
                continue
            hint = suggest(name, self.allowed) if isinstance(name, str) else ""
            if not hint:
                hint = f" (expected one of: {', '.join(self.allowed)})" if self.allowed else " (no keys are allowed here)"
            issues.error(join(path, name), f"unknown key{hint}")

    def _read(self, key: Key, name: str, data: Mapping[Any, Any], out: Values, issues: Issues) -> None:
        raw = data.get(name)
        path = join(out.path, name)
        if raw is None:
            if key.nullable and name in data:
                out[name] = None
                out.given.add(name)
            else:
                out[name] = key.kind.absent(path) if key.default is UNSET else key.default
            return
        parsed = key.kind.parse(raw, path, issues)
        if parsed is INVALID:
            out[name] = key.kind.absent(path) if key.default is UNSET else key.default
        else:
            out[name] = parsed
            out.given.add(name)

    def absent(self, path: str) -> Any:
        # A left-out sub-mapping reads as an empty one (every default) unless it needs keys.
        return None if self.required else self.parse({}, path, Issues())

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        fixed = {k.name: k.schema(defs) for k in self.keys if k.pattern is None}
        if fixed:
            out["properties"] = fixed
        if self.patterned:
            out["patternProperties"] = {f"^(?:{k.pattern})$": k.schema(defs) for _, k in self.patterned}
        if self.required:
            out["required"] = list(self.required)
        out["additionalProperties"] = False
        return out

    def type_name(self) -> str:
        return "mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)


class Map(Kind):
    """A mapping of names the user chooses to values of one kind (`providers.NAME`).

    `placeholder` is how the docs write a name; `key_pattern` what a name must match, and
    `key_message` the error otherwise ("{found}" is replaced by the name as found).
    `min_items` with `empty_message`: the error when it has fewer entries (null included).
    `entry_doc` describes one entry (default: the entry kind's own `doc`).
    """

    container = True

    def __init__(
        self,
        of: Kind,
        *,
        placeholder: str = "NAME",
        key_pattern: str | None = None,
        key_message: str = "names must be non-empty strings, got {found}",
        min_items: int = 0,
        empty_message: str = "must not be empty",
        name: str | None = None,
        doc: str = "",
        entry_doc: str | None = None,
        example: str | None = None,
    ) -> None:
        self.of = of
        self.entry_doc = entry_doc if entry_doc is not None else getattr(of, "doc", "")
        self.placeholder = placeholder
        self.key_pattern = key_pattern
        self._key_re = re.compile(key_pattern) if key_pattern else None
        self.key_message = key_message
        self.min_items = min_items
        self.empty_message = empty_message
        self.ref_name = name
        self.doc = doc
        self.example = example

    def valid_name(self, name: Any) -> bool:
        if not isinstance(name, str) or not name:
            return False
        return self._key_re is None or self._key_re.fullmatch(name) is not None

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        data = mapping(value, path, issues)
        if data is None:
            return INVALID
        if len(data) < self.min_items:
            issues.error(path, self.empty_message)
        out = Entries(path)
        for name, body in data.items():
            if not self.valid_name(name):
                issues.error(join(path, name), self.key_message.replace("{found}", found(name)))
                continue
            out.names.append(name)
            parsed = self.of.parse(body, join(path, name), issues)
            if parsed is not INVALID:
                out[name] = parsed
        return out

    def absent(self, path: str) -> Any:
        return Entries(path)

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        entry = self.of.json(defs)
        if self.entry_doc:
            entry = {**entry, "description": self.entry_doc}
        if self.key_pattern is not None:
            out["patternProperties"] = {f"^(?:{self.key_pattern})$": entry}
            out["additionalProperties"] = False
        else:
            out["propertyNames"] = {"minLength": 1}
            out["additionalProperties"] = entry
        if self.min_items:
            out["minProperties"] = self.min_items
        return out

    def type_name(self) -> str:
        return f"map of {self.placeholder} to {self.of.type_name()}"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)


class List(Kind):
    """A list of one kind; `unique` items are names that may not repeat."""

    def __init__(self, of: Kind, *, min_items: int = 0, unique: bool = False, name: str | None = None) -> None:
        self.of = of
        self.min_items = min_items
        self.unique = unique
        self.ref_name = name

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if not isinstance(value, list):
            return self.error(issues, path, f"must be a list, got {found(value)}")
        if len(value) < self.min_items:
            issues.error(path, "must not be empty")
        out = Items()
        for i, item in enumerate(value):
            item_path = at(path, i)
            parsed = self.of.parse(item, item_path, issues)
            if parsed is INVALID:
                continue
            if self.unique and parsed in out:
                issues.error(item_path, f"{parsed!r} is listed twice")
                continue
            out.append(parsed)
            out.paths.append(item_path)
        return out

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "array", "items": self.of.json(defs)}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.unique:
            out["uniqueItems"] = True
        return out

    def type_name(self) -> str:
        return f"list of {self.of.type_name()}"

    def show(self, value: Any) -> Any:
        items = sorted(value, key=self.of.sort_key) if isinstance(value, (set, frozenset)) else list(value)
        return [self.of.show(item) for item in items]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)
