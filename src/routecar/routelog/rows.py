"""`RouteRecord` to SQLite row and back to plain values.

The writer calls `to_row` in its own thread, off the request path (that is also where the
columns the handler deferred are built, `RouteRecord.materialize`); the read side calls
`decode_row` to turn JSON text columns back into lists and dicts.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any, Callable

import orjson

from routecar.observability.scrub import redact
from routecar.routelog.record import RouteRecord
from routecar.routelog.schema import BOOL_COLUMNS, COLUMN_NAMES, JSON_COLUMNS

_JSON_OPTS = orjson.OPT_NON_STR_KEYS
# Text that can carry an upstream's own words: a provider that echoes the key it was sent
# ("Incorrect API key provided: sk-…") must not plant that key in the file SREs copy around.
# Scrubbed here, in the writer's thread, so the request path pays nothing.
SCRUBBED_COLUMNS = frozenset({"error_message"})


def _json_default(value: Any) -> Any:
    # Whatever the request path puts in a record must never make a batch fail to serialize.
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def dump_json(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=_JSON_OPTS).decode()


def _json_or_null(value: Any) -> str | None:
    return None if value is None else dump_json(value)


def _bool_int(value: Any) -> int:
    return 1 if value else 0


def _scrubbed_text(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def _build_converters() -> tuple[tuple[Callable[[Any], Any], Callable[[Any], Any] | None], ...]:
    out = []
    for name in COLUMN_NAMES:
        conv: Callable[[Any], Any] | None = None
        if name in SCRUBBED_COLUMNS:
            conv = _scrubbed_text
        elif name in JSON_COLUMNS:
            conv = _json_or_null
        elif name in BOOL_COLUMNS:
            conv = _bool_int
        out.append((attrgetter(name), conv))
    return tuple(out)


_CONVERTERS = _build_converters()
_PROMPT_INDEX = (COLUMN_NAMES.index("prompt"), COLUMN_NAMES.index("response"))


def to_row(record: RouteRecord, record_prompts: bool) -> tuple[Any, ...]:
    """The INSERT parameters for one record, in `COLUMN_NAMES` order."""
    record.materialize()  # the plan and attempt columns the request path deferred
    row = [conv(get(record)) if conv else get(record) for get, conv in _CONVERTERS]
    if not record_prompts:
        for i in _PROMPT_INDEX:
            row[i] = None
    return tuple(row)


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns decoded in place; text that is not valid JSON is kept as text."""
    for name in JSON_COLUMNS:
        text = row.get(name)
        if isinstance(text, str):
            try:
                row[name] = orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
    return row
