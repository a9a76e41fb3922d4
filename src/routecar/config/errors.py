"""The one exception a config problem raises, and how values are named in its messages."""

from __future__ import annotations

from typing import Any


class ConfigError(Exception):
    """Every problem found in a config, each as `key.path: message`.

    Validation collects all errors before raising, so one `routecar check` run shows the SRE
    everything to fix instead of one error per edit.
    """

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))

    def __str__(self) -> str:
        return "\n".join(self.errors)


def found(value: Any) -> str:
    """How a YAML value is named in an error: its kind, and the value when short and safe."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def is_number(value: Any) -> bool:
    # YAML booleans are ints in Python; `true` is never a number in a config.
    return isinstance(value, (int, float)) and not isinstance(value, bool)
