"""Kinds of scalar value in `sidecar.yaml`: each reads one value and describes itself.

A kind has three faces, all built from the same attributes so they cannot drift apart:
- `parse(value, path, issues)`: the value as routecar uses it, or INVALID after recording an
  error at `path` (the loader then carries on, so one run reports every problem);
- `schema(defs)`: its JSON Schema (draft 2020-12);
- `type_name()` and `show(default)`: its type and a default as the configuration docs print them.

Containers (mappings, lists, alternatives) are in shapes.py. A section defines its own kind when
a value has a syntax of its own (`server.listen`, `providers.NAME.base_url`): subclass `Kind`
next to the section and implement the same three faces.

Every scalar also accepts a `${VAR}` reference: interpolation happens after YAML parsing, so an
integer may arrive as the string "${PORT:-7300}". The schema checks the file as written, so it
lets such a reference through (see `with_env`) and `routecar check` judges the resolved value.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Collection

from .durations import (
    CONFIG_UNITS,
    format_duration,
    format_size,
    parse_duration,
    parse_rate,
    parse_size,
)
from .errors import ConfigError, found, is_number
from .fields import (
    FALSE_WORDS,
    TRUE_WORDS,
    Interpolated,
    Issues,
    as_int,
    as_number,
    bounds,
    kind_of,
    suggest,
)
from .interpolate import REFERENCE_PATTERN


class _Invalid:
    def __repr__(self) -> str:
        return "INVALID"


# What `parse` returns once it has recorded an error: the caller falls back to the default.
INVALID: Any = _Invalid()

Schema = dict[str, Any]


class Defs:
    """The `$defs` of the schema being generated: each named shape once, referenced elsewhere."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        self._owners: dict[str, object] = {}

    def ref(self, name: str, owner: object, make: Callable[[], Schema]) -> Schema:
        if name not in self.schemas:
            self._owners[name] = owner
            self.schemas[name] = {}  # claimed first, so a shape that contains itself terminates
            self.schemas[name] = make()
        elif self._owners[name] is not owner and self.schemas[name] != make():
            raise ValueError(f"two different shapes are named {name!r} in the config definitions")
        return {"$ref": f"#/$defs/{name}"}


def env_ref(defs: Defs) -> Schema:
    return defs.ref("env", env_ref, lambda: {
        "type": "string",
        "pattern": REFERENCE_PATTERN,
        "description": "a ${VAR} or ${VAR:-default} reference, resolved when the file is loaded",
    })


def with_env(defs: Defs, *alternatives: Schema) -> Schema:
    """The alternatives, or a `${VAR}` reference (which the loader resolves, then judges)."""
    return {"anyOf": [*alternatives, env_ref(defs)]}


def _ci(word: str) -> str:
    # ECMA-262 regexes (the schema's dialect) have no inline (?i): spell each letter's two cases.
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


class Kind:
    """One type of YAML value; see the module docstring."""

    # Set: the schema lists this shape once under `$defs` by this name and refers to it.
    ref_name: str | None = None
    # Mappings: their keys' defaults live inside them, never as one value.
    container = False

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        raise NotImplementedError

    def schema(self, defs: Defs) -> Schema:
        raise NotImplementedError

    def type_name(self) -> str:
        raise NotImplementedError

    def json(self, defs: Defs) -> Schema:
        """The schema to write where this kind is used: a `$ref` when the kind is named."""
        if self.ref_name is None:
            return self.schema(defs)
        return defs.ref(self.ref_name, self, lambda: self.schema(defs))

    def show(self, value: Any) -> Any:
        """A default as a user would write it (JSON-compatible)."""
        return value

    def sort_key(self, value: Any) -> Any:
        """Where `value` goes when a set of them is shown (a default of `retry_on`)."""
        return str(value)

    def accepts(self, value: Any) -> bool:
        """Whether `Either` hands `value` to this kind (by its YAML type, not its validity)."""
        return not isinstance(value, (dict, list))

    def absent(self, path: str) -> Any:
        """The value of an optional key of this kind that is left out and has no default."""
        return None

    def error(self, issues: Issues, path: str, message: str) -> Any:
        issues.error(path, message)
        return INVALID


class Str(Kind):
    """Text. `what` names it in messages ("a tag value"); `message` is the error when `pattern`
    or `max_length` fails. A secret's value never appears in a message, only its type."""

    def __init__(
        self,
        *,
        pattern: str | None = None,
        max_length: int | None = None,
        message: str | None = None,
        what: str | None = None,
        secret: bool = False,
        allow_empty: bool = False,
    ) -> None:
        self.pattern = pattern
        self._re = re.compile(pattern) if pattern is not None else None
        self.max_length = max_length
        self.message = message
        self.what = what
        self.secret = secret
        self.allow_empty = allow_empty

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if not isinstance(value, str) or (not value and not self.allow_empty):
            if self.what:
                return self.error(issues, path, f"must be {self.what} (a non-empty string), got {found(value)}")
            if isinstance(value, str):
                return self.error(issues, path, "must not be empty")
            return self.error(issues, path, f"must be a string, got {kind_of(value, self.secret)}")
        too_long = self.max_length is not None and len(value) > self.max_length
        if too_long or (self._re is not None and not self._re.fullmatch(value)):
            message = self.message or (f"must match {self.pattern}" if self._re else
                                       f"must be at most {self.max_length} characters")
            shown = "" if self.secret else f", got {value[:70]!r}"
            return self.error(issues, path, message + shown)
        return str(value)  # drops the Interpolated marker

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "string"}
        if not self.allow_empty:
            out["minLength"] = 1
        if self.max_length is not None:
            out["maxLength"] = self.max_length
        if self.pattern is None:
            return out  # a ${VAR} reference is a string too
        out["pattern"] = f"^(?:{self.pattern})$"
        return with_env(defs, out)

    def type_name(self) -> str:
        return "string"


class Regex(Str):
    """A regular expression, compiled once per load: a bad pattern is a config error with the
    regex engine's own message, and the router never compiles on the request path."""

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        text = super().parse(value, path, issues)
        if text is INVALID:
            return INVALID
        try:
            return re.compile(text)
        except re.error as exc:
            return self.error(issues, path, f"invalid regex {text!r}: {exc}")

    def schema(self, defs: Defs) -> Schema:
        return {"type": "string", "minLength": 1, "format": "regex"}

    def type_name(self) -> str:
        return "regex"

    def show(self, value: Any) -> Any:
        return value.pattern if isinstance(value, re.Pattern) else value


class Enum(Kind):
    """One of fixed words. `say_type` names the value with its type in messages ("got string
    'x'"), as list items do; a key's value is quoted alone ("got 'x'")."""

    def __init__(self, choices: Collection[str], *, say_type: bool = False) -> None:
        self.choices = tuple(choices)
        self.say_type = say_type

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if isinstance(value, str) and value in self.choices:
            return str(value)
        listed = ", ".join(self.choices)
        if not isinstance(value, str) and not self.say_type:
            return self.error(issues, path, f"must be a string, got {found(value)}")
        hint = suggest(value, self.choices) if isinstance(value, str) else ""
        shown = found(value) if self.say_type else repr(value)
        return self.error(issues, path, f"must be one of {listed}, got {shown}{hint}")

    def schema(self, defs: Defs) -> Schema:
        return with_env(defs, {"enum": list(self.choices)})

    def type_name(self) -> str:
        return "one of " + ", ".join(f"`{c}`" for c in self.choices)

    def sort_key(self, value: Any) -> Any:
        return self.choices.index(value) if value in self.choices else len(self.choices)


class Int(Kind):
    def __init__(self, *, min: int | None = None, max: int | None = None) -> None:
        self.min = min
        self.max = max

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        number = as_int(value)
        if number is None or (self.min is not None and number < self.min) or (
            self.max is not None and number > self.max
        ):
            return self.error(issues, path, f"must be {bounds('an integer', self.min, self.max, None)}, got {found(value)}")
        return number

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "integer"}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        return with_env(defs, out)

    def type_name(self) -> str:
        return bounds("integer", self.min, self.max, None).replace(">=", "≥").replace("<=", "≤")


class Number(Kind):
    """A finite number; `gt` is an exclusive lower bound ("a weight > 0")."""

    def __init__(self, *, min: float | None = None, max: float | None = None, gt: float | None = None) -> None:
        self.min = min
        self.max = max
        self.gt = gt

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        number = as_number(value)
        ok = number is not None and math.isfinite(number)
        if ok and ((self.min is not None and number < self.min) or (self.max is not None and number > self.max)):
            ok = False
        if ok and self.gt is not None and number <= self.gt:
            ok = False
        if not ok:
            return self.error(issues, path, f"must be {bounds('a number', self.min, self.max, self.gt)}, got {found(value)}")
        return number

    def schema(self, defs: Defs) -> Schema:
        out: Schema = {"type": "number"}
        if self.min is not None:
            out["minimum"] = self.min
        if self.gt is not None:
            out["exclusiveMinimum"] = self.gt
        if self.max is not None:
            out["maximum"] = self.max
        return with_env(defs, out)

    def type_name(self) -> str:
        return bounds("number", self.min, self.max, self.gt).replace(">=", "≥").replace("<=", "≤")


class Bool(Kind):
    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, Interpolated) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        return self.error(issues, path, f"must be true or false, got {found(value)}")

    def schema(self, defs: Defs) -> Schema:
        return with_env(defs, {"type": "boolean"})

    def type_name(self) -> str:
        return "boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


def _parsed(parse: Callable[[Any, str], Any], value: Any, path: str, issues: Issues) -> Any:
    try:
        return parse(value, path)
    except ConfigError as exc:
        issues.errors.extend(exc.errors)
        return INVALID


# Duration text as durations.parse_duration reads it (after strip and lower-casing): a plain
# number of seconds, or "<number><unit>" parts ("500ms", "1h30m", ".5s").
_UNITS = "|".join(_ci(u) for u in sorted(CONFIG_UNITS, key=lambda u: (-len(u), u)))
_DURATION = rf"\s*(\+?[0-9]+(\.[0-9]+)?|(([0-9]+(\.[0-9]*)?|\.[0-9]+)({_UNITS}))+)\s*"
# Durations and rates are 0 exactly when they have no non-zero digit.
_NONZERO = "(?=.*[1-9])"


class Duration(Kind):
    """Seconds: a number, or a string with units ("500ms", "30s", "5m", "1h", "7d", "1h30m").
    `max` is an upper bound, and `why` the reason given when it is exceeded."""

    def __init__(self, *, positive: bool = False, max: float | None = None, why: str | None = None) -> None:
        self.positive = positive
        self.max = max
        self.why = why
        if max is None:
            self.ref_name = "positive_duration" if positive else "duration"

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        seconds = _parsed(parse_duration, value, path, issues)
        if seconds is INVALID:
            return INVALID
        if self.positive and seconds <= 0:
            return self.error(issues, path, f"must be a duration > 0, got {found(value)}")
        if self.max is not None and seconds > self.max:
            reason = f": {self.why}" if self.why else ""
            return self.error(issues, path, f"must be <= {format_duration(self.max)}{reason}, got {format_duration(seconds)}")
        return seconds

    def schema(self, defs: Defs) -> Schema:
        number: Schema = {"type": "number", ("exclusiveMinimum" if self.positive else "minimum"): 0}
        text: Schema = {"type": "string", "pattern": f"^{_NONZERO if self.positive else ''}{_DURATION}$"}
        if self.max is not None:
            number["maximum"] = self.max
        return {
            "oneOf": [number, text, env_ref(defs)],
            "description": "seconds, or a string with units: 500ms, 30s, 5m, 1h, 7d, 1h30m"
            + (" (more than 0)" if self.positive else ""),
        }

    def type_name(self) -> str:
        if self.max is not None:
            return f"duration > 0, ≤ {format_duration(self.max)}" if self.positive else f"duration ≤ {format_duration(self.max)}"
        return "duration > 0" if self.positive else "duration"

    def show(self, value: Any) -> Any:
        return format_duration(value) if is_number(value) else value


# Rate text as durations.parse_rate reads it: a number from 0 to 1, or a percentage to 100.
_PLAIN_RATE = r"\+?0*(1(\.0+)?|0(\.[0-9]+)?)"
_PERCENT = r"\+?0*([0-9]{1,2}(\.[0-9]+)?|100(\.0+)?)\s*%"


class Rate(Kind):
    """A fraction between 0 and 1 (also written "5%")."""

    def __init__(self, *, positive: bool = False) -> None:
        self.positive = positive
        self.ref_name = "positive_rate" if positive else "rate"

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        rate = _parsed(parse_rate, value, path, issues)
        if rate is not INVALID and self.positive and rate <= 0:
            return self.error(issues, path, f"must be a fraction > 0 and <= 1, got {found(value)}")
        return rate

    def schema(self, defs: Defs) -> Schema:
        number: Schema = {"type": "number", ("exclusiveMinimum" if self.positive else "minimum"): 0, "maximum": 1}
        text = f"^{_NONZERO if self.positive else ''}\\s*({_PLAIN_RATE}|{_PERCENT})\\s*$"
        return {
            "oneOf": [number, {"type": "string", "pattern": text}, env_ref(defs)],
            "description": "a fraction between 0 and 1, or a percentage such as 5%"
            + (" (more than 0)" if self.positive else ""),
        }

    def type_name(self) -> str:
        return "rate (0, 1]" if self.positive else "rate [0, 1]"


_SIZE_TEXT = r"\s*[0-9]+(\.[0-9]+)?\s*([bB]|[kKmMgG][iI]?[bB])?\s*"


class Size(Kind):
    """Bytes: an integer, or a string with units (512KB, 8MiB, 1GB; KB decimal, KiB binary)."""

    ref_name = "size"

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        return _parsed(parse_size, value, path, issues)

    def schema(self, defs: Defs) -> Schema:
        return {
            "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": f"^{_SIZE_TEXT}$"}, env_ref(defs)],
            "description": "bytes, or a string with units: 512KB, 8MiB, 1GB (KB = 1000 bytes, KiB = 1024)",
        }

    def type_name(self) -> str:
        return "size"

    def show(self, value: Any) -> Any:
        return format_size(value) if isinstance(value, int) else value


__all__ = [
    "INVALID", "Bool", "Defs", "Duration", "Enum", "Int", "Kind", "Number", "Rate", "Regex", "Schema", "Size", "Str",
    "env_ref", "with_env",
]  # fmt: skip
