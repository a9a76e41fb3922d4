"""A small JSON Schema validator for the subset structured-output schemas use.

Supported: type (incl. lists of types and "integer" vs "number"), properties, required,
additionalProperties (false or a schema), items, enum, const, anyOf/oneOf/allOf, minItems,
maxItems, minLength, maxLength, minimum, maximum, and local `$ref` to `#/$defs/...` or
`#/definitions/...`. Anything else is ignored (accepted), which is the safe side for a cascade:
an unknown keyword never escalates an answer by itself. No dependency on `jsonschema`.
"""

from __future__ import annotations

from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool)
    or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_MAX_DEPTH = 64  # schemas with recursive $refs must not recurse forever on hostile input


def validate(instance: Any, schema: Any) -> str | None:
    """None when `instance` satisfies `schema`, else the first error as "path: message"."""
    return _check(instance, schema, "$", schema if isinstance(schema, dict) else {}, 0)


def _resolve(ref: str, root: dict) -> Any:
    if not ref.startswith("#/"):
        return {}
    node: Any = root
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _check(value: Any, schema: Any, path: str, root: dict, depth: int) -> str | None:
    if schema is True or not isinstance(schema, dict):
        return None if schema is not False else f"{path}: not allowed"
    if depth > _MAX_DEPTH:
        return f"{path}: schema nests too deep"
    if "$ref" in schema:
        return _check(value, _resolve(schema["$ref"], root), path, root, depth + 1)
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_TYPES.get(k, lambda v: True)(value) for k in kinds):
            return f"{path}: expected {' or '.join(map(str, kinds))}, got {_name(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']!r}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}"
    for sub in schema.get("allOf", ()):
        err = _check(value, sub, path, root, depth + 1)
        if err:
            return err
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options and all(_check(value, o, path, root, depth + 1) for o in options):
            return f"{path}: matches none of {key}"
    if isinstance(value, dict):
        return _check_object(value, schema, path, root, depth)
    if isinstance(value, list):
        return _check_array(value, schema, path, root, depth)
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{path}: shorter than {schema['minLength']}"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']}"
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: below minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: above maximum {schema['maximum']}"
    return None


def _check_object(value: dict, schema: dict, path: str, root: dict, depth: int) -> str | None:
    for name in schema.get("required", ()):
        if name not in value:
            return f"{path}: missing required property '{name}'"
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        sub = props.get(name)
        if sub is not None:
            err = _check(item, sub, f"{path}.{name}", root, depth + 1)
        elif extra is False:
            err = f"{path}: unexpected property '{name}'"
        elif isinstance(extra, dict):
            err = _check(item, extra, f"{path}.{name}", root, depth + 1)
        else:
            err = None
        if err:
            return err
    return None


def _check_array(value: list, schema: dict, path: str, root: dict, depth: int) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"{path}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: more than {schema['maxItems']} items"
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            err = _check(item, items, f"{path}[{i}]", root, depth + 1)
            if err:
                return err
    return None


def _name(value: Any) -> str:
    for name in ("boolean", "null", "integer", "number", "string", "array", "object"):
        if _TYPES[name](value):
            return name
    return type(value).__name__
