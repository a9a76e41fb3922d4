"""What every reader of `sidecar.yaml` values shares: collected issues, key paths, suggestions
for misspelt names, and the numbers an environment variable may carry.

Readers record a problem at the key's full path and carry on, so `routecar check` reports every
problem at once (see kinds.py and shapes.py for the readers themselves).
"""

from __future__ import annotations

from typing import Any, Collection, Iterable

from .errors import found, is_number

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})


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


def as_number(value: Any) -> float | None:
    if is_number(value):
        return float(value)
    if isinstance(value, Interpolated):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_int(value: Any) -> int | None:
    if is_number(value) and isinstance(value, int):
        return int(value)
    if isinstance(value, Interpolated):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def bounds(noun: str, min: float | None, max: float | None, gt: float | None) -> str:
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
