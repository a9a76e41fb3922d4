"""Reading one YAML mapping with exact key paths and collected errors.

Every section parser works through a `Node`: it checks for unknown and missing keys when it is
made, and its typed getters record an error at the key's full path and return the default, so
parsing always runs to the end and `routecar check` reports every problem at once.

YAML null (an empty value) means "not set": the default applies, or "is required" when there is
none. Only fields whose null has a meaning of its own (e.g. `retention.max_rows: null`, no row
cap) ask for `nullable=True` and get None.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Collection, Iterable, TypeVar

from .durations import parse_duration, parse_rate, parse_size
from .errors import ConfigError, found, is_number

T = TypeVar("T")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Interpolated(str):
    """A string produced by `${...}` substitution.

    Numeric and boolean fields accept it when its text parses ("${PORT:-7300}" for an int),
    because environment variables can only ever carry strings.
    """


class Issues:
    """Errors (the config is refused) and warnings (it serves, but someone should look)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}" if path else message)

    def warn(self, path: str, message: str) -> None:
        self.warnings.append(f"{path}: {message}" if path else message)


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def at(path: str, index: int) -> str:
    return f"{path}[{index}]"


def suggest(name: str, known: Iterable[str]) -> str:
    import difflib  # only a config with a mistake in it gets this far: the server need not load it

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(kind: str, name: Any, known: Collection[str]) -> str:
    """`unknown model 'gpt-5o' (did you mean 'gpt-4o'?)`, or the known names when none is close."""
    if not isinstance(name, str):
        return f"must be the name of a {kind}, got {found(name)}"
    hint = suggest(name, known)
    if not hint:
        names = sorted(known)
        if not names:
            hint = f" (no {kind}s are defined)"
        else:
            listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            hint = f" (known: {listed})"
    return f"unknown {kind} {name!r}{hint}"


def kind_of(value: Any, secret: bool) -> str:
    # For secrets, name only the type: the value itself must never reach an error message.
    return f"a value of type {type(value).__name__}" if secret else found(value)


def _as_number(value: Any) -> float | None:
    if is_number(value):
        return float(value)
    if isinstance(value, Interpolated):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_int(value: Any) -> int | None:
    if is_number(value) and isinstance(value, int):
        return int(value)
    if isinstance(value, Interpolated):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _bounds(noun: str, min: float | None, max: float | None, gt: float | None) -> str:
    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else str(x)

    if gt is not None and max is not None:
        return f"{noun} > {fmt(gt)} and <= {fmt(max)}"
    if min is not None and max is not None:
        return f"{noun} between {fmt(min)} and {fmt(max)}"
    if gt is not None:
        return f"{noun} > {fmt(gt)}"
    if min is not None:
        return f"{noun} >= {fmt(min)}"
    if max is not None:
        return f"{noun} <= {fmt(max)}"
    return noun


class Node:
    """One YAML mapping at a key path."""

    __slots__ = ("issues", "data", "path")

    def __init__(self, issues: Issues, data: dict[Any, Any], path: str) -> None:
        self.issues = issues
        self.data = data
        self.path = path

    @classmethod
    def of(
        cls,
        issues: Issues,
        value: Any,
        path: str,
        keys: Collection[str] | None,
        required: Collection[str] = (),
    ) -> Node | None:
        """A Node over `value`, or None (with an error) when it is not a mapping.

        `keys` lists the keys allowed here (None: any); null is an empty mapping, so a section
        whose entries are all commented out still parses.
        """
        if value is None:
            value = {}
        if not isinstance(value, dict):
            issues.error(path, f"must be a mapping, got {found(value)}")
            return None
        if keys is not None:
            for key in value:
                if not isinstance(key, str) or key not in keys:
                    hint = suggest(key, keys) if isinstance(key, str) else ""
                    if not hint:
                        hint = f" (expected one of: {', '.join(keys)})" if keys else " (no keys are allowed here)"
                    issues.error(join(path, key), f"unknown key{hint}")
        for key in required:
            if value.get(key) is None:
                issues.error(join(path, key), "is required")
        return cls(issues, value, path)

    def path_of(self, key: str) -> str:
        return join(self.path, key)

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def error(self, key: str, message: str) -> None:
        self.issues.error(self.path_of(key), message)

    def _null(self, key: str, default: T, nullable: bool) -> T | None:
        return None if nullable and key in self.data else default

    def str(
        self,
        key: str,
        default: str | None = None,
        *,
        choices: Collection[str] | None = None,
        secret: bool = False,
        allow_empty: bool = False,
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(key, f"must be a string, got {kind_of(value, secret)}")
            return default
        if not value and not allow_empty:
            self.error(key, "must not be empty")
            return default
        if choices is not None and value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}, got {value!r}{suggest(value, choices)}")
            return default
        return str(value)  # drops the Interpolated marker

    def number(
        self,
        key: str,
        default: float | None,
        *,
        min: float | None = None,
        max: float | None = None,
        gt: float | None = None,
        nullable: bool = False,
    ) -> float | None:
        value = self.data.get(key)
        if value is None:
            return self._null(key, default, nullable)
        number = _as_number(value)
        ok = number is not None and math.isfinite(number)
        if ok and ((min is not None and number < min) or (max is not None and number > max)):
            ok = False
        if ok and gt is not None and number <= gt:
            ok = False
        if not ok:
            self.error(key, f"must be {_bounds('a number', min, max, gt)}, got {found(value)}")
            return default
        return number

    def int(
        self,
        key: str,
        default: int | None,
        *,
        min: int | None = None,
        max: int | None = None,
        nullable: bool = False,
    ) -> int | None:
        value = self.data.get(key)
        if value is None:
            return self._null(key, default, nullable)
        number = _as_int(value)
        if number is None or (min is not None and number < min) or (max is not None and number > max):
            self.error(key, f"must be {_bounds('an integer', min, max, None)}, got {found(value)}")
            return default
        return number

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, Interpolated) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        self.error(key, f"must be true or false, got {found(value)}")
        return default

    def _parsed(self, key: str, default: T, parse: Callable[[Any, str], T]) -> T:
        try:
            return parse(self.data[key], self.path_of(key))
        except ConfigError as exc:
            self.issues.errors.extend(exc.errors)
            return default

    def duration(
        self, key: str, default: float | None, *, positive: bool = False, nullable: bool = False
    ) -> float | None:
        if self.data.get(key) is None:
            return self._null(key, default, nullable)
        seconds = self._parsed(key, None, parse_duration)
        if seconds is None:
            return default
        if positive and seconds <= 0:
            self.error(key, f"must be a duration > 0, got {found(self.data[key])}")
            return default
        return seconds

    def rate(self, key: str, default: float, *, positive: bool = False) -> float:
        if self.data.get(key) is None:
            return default
        rate = self._parsed(key, None, parse_rate)
        if rate is None:
            return default
        if positive and rate <= 0:
            self.error(key, f"must be a fraction > 0 and <= 1, got {found(self.data[key])}")
            return default
        return rate

    def size(self, key: str, default: int) -> int:
        if self.data.get(key) is None:
            return default
        return self._parsed(key, default, parse_size)

    def node(self, key: str, keys: Collection[str] | None, required: Collection[str] = ()) -> Node | None:
        return Node.of(self.issues, self.data.get(key), self.path_of(key), keys, required)

    def section(self, key: str, keys: Collection[str] | None, required: Collection[str] = ()) -> Node | None:
        """Like `node`, but None when the key is absent or null: an optional feature left off."""
        return self.node(key, keys, required) if self.has(key) else None

    def list(self, key: str, *, required: bool = False) -> list[tuple[str, Any]]:
        """(path, item) pairs of a list value; [] (with an error if required) when absent."""
        value = self.data.get(key)
        if value is None:
            if required:
                self.error(key, "is required")
            return []
        if not isinstance(value, list):
            self.error(key, f"must be a list, got {found(value)}")
            return []
        if required and not value:
            self.error(key, "must not be empty")
        return [(at(self.path_of(key), i), item) for i, item in enumerate(value)]

    def names(self, key: str, kind: str, known: Collection[str], *, required: bool = False) -> tuple[str, ...]:
        """A list of references to known names (models, classifiers...), without duplicates."""
        out: list[str] = []
        for path, item in self.list(key, required=required):
            if not isinstance(item, str) or item not in known:
                self.issues.error(path, unknown(kind, item, known))
            elif item in out:
                self.issues.error(path, f"{item!r} is listed twice")
            else:
                out.append(str(item))
        return tuple(out)
