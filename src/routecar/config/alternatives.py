"""Shapes that depend on what is written: `Either` one of several kinds told apart by YAML type
(a duration or a mapping), `Tagged` a mapping whose keys depend on a tag (`type: llm` allows
`labels`, `type: heuristic` does not)."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from .fields import Issues
from .kinds import INVALID, Defs, Enum, Kind, Schema
from .shapes import Key, Object, mapping, with_default


class Either(Kind):
    """One of several kinds, chosen by the value's YAML type (`accepts`): a duration or a
    mapping, a list or a mapping. A value no kind takes gets `message`, else the first kind's
    own error."""

    def __init__(self, *kinds: Kind, message: str | None = None) -> None:
        self.kinds = kinds
        self.message = message
        self.container = any(k.container for k in kinds)

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        for kind in self.kinds:
            if kind.accepts(value):
                return kind.parse(value, path, issues)
        if self.message is not None:
            return self.error(issues, path, self.message)
        return self.kinds[0].parse(value, path, issues)

    def schema(self, defs: Defs) -> Schema:
        return {"anyOf": [k.json(defs) for k in self.kinds]}

    def type_name(self) -> str:
        return " or ".join(k.type_name() for k in self.kinds)

    def accepts(self, value: Any) -> bool:
        return any(k.accepts(value) for k in self.kinds)


class Tagged(Kind):
    """A mapping whose allowed keys depend on its tag (`type`): `common` keys everywhere,
    `variants[tag]` only with that tag. With a tag that is missing or unknown, the tag's own
    error is reported and only the common keys are read (any variant's keys are let through)."""

    container = True

    def __init__(
        self,
        tag: str,
        tag_doc: str,
        common: Iterable[Key],
        variants: Mapping[str, Iterable[Key]],
        *,
        defaults: Any = None,
        name: str,
        doc: str = "",
    ) -> None:
        # Defaults resolved once per Key object: a key several variants share stays one object.
        resolved: dict[int, Key] = {}

        def resolve(key: Key) -> Key:
            return resolved.setdefault(id(key), with_default(key, defaults))

        common = tuple(resolve(k) for k in common)
        self.tag = Key(tag, Enum(tuple(variants)), tag_doc, required=True)
        self.common = (self.tag, *common)
        self.variants = {v: tuple(resolve(k) for k in keys) for v, keys in variants.items()}
        # In a variant's own shape the tag can only be that variant; a variant key named like a
        # common key replaces it there (a cloud's base_url is optional, everyone else's required).
        self.objects = {
            v: Object(dataclasses.replace(self.tag, kind=Enum((v,))),
                      *(k for k in common if all(k.name != e.name for e in extra)), *extra, name=f"{name}_{v}")
            for v, extra in self.variants.items()
        }
        extra_names = [k.name for keys in self.variants.values() for k in keys]
        self.any_variant = Object(*self.common, also_allowed=extra_names)
        self.ref_name = name
        self.doc = doc

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        data = mapping(value, path, issues)
        if data is None:
            return INVALID
        tag = data.get(self.tag.name)
        obj = self.objects.get(tag) if isinstance(tag, str) else None
        return (obj or self.any_variant).parse(data, path, issues)

    def schema(self, defs: Defs) -> Schema:
        name = self.tag.name
        # Each variant lists all its keys with additionalProperties: false; the outer shape
        # only picks the variant, so a tag given as ${VAR} is left for the loader to judge.
        branches = []
        for variant, obj in self.objects.items():
            variant_schema = obj.json(defs)
            branches.append({
                "if": {"properties": {name: {"const": variant}}, "required": [name]},
                "then": variant_schema,
            })
        out: Schema = {"type": "object"}
        if self.doc:
            out["description"] = self.doc
        out["properties"] = {name: {**self.tag.kind.json(defs), "description": self.tag.doc}}
        out["required"] = [name]
        out["allOf"] = branches
        return out

    def type_name(self) -> str:
        return "mapping"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)
