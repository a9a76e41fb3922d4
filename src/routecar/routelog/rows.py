"""`RouteRecord` to SQLite row and back to plain values.

The writer calls `to_row` in its own thread, off the request path (that is also where the
plan and attempt columns of a record with a `detail` are built, `RouteRecord.list_columns`);
the read side calls `decode_row` to turn JSON text columns back into lists and dicts.
"""

from __future__ import annotations

import dataclasses
from operator import attrgetter
from typing import Any

import orjson

from routecar.redaction import Redactor
from routecar.routelog.record import DETAIL_COLUMNS, RouteRecord
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


# The text orjson gives an empty list or dict, without the call: most rows have several
# (rules_matched, skipped, tags, classes). Keyed by exact type, and only used for empty values,
# so the stored text is byte-for-byte what dump_json would write.
_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}

_ALL_COLUMNS = attrgetter(*COLUMN_NAMES)
_PROMPT_INDEX = (COLUMN_NAMES.index("prompt"), COLUMN_NAMES.index("response"))
_JSON_INDEX = tuple(
    i for i, name in enumerate(COLUMN_NAMES) if name in JSON_COLUMNS and i not in _PROMPT_INDEX
)
_BOOL_INDEX = tuple(i for i, name in enumerate(COLUMN_NAMES) if name in BOOL_COLUMNS)
_SCRUBBED_INDEX = tuple(i for i, name in enumerate(COLUMN_NAMES) if name in SCRUBBED_COLUMNS)
_DETAIL_INDEX = tuple((COLUMN_NAMES.index(name), name) for name in DETAIL_COLUMNS)


def _dump_columns(row: list[Any], indexes: tuple[int, ...]) -> None:
    """The JSON text of `row[i]` for each index, in place (None stays NULL)."""
    dumps = orjson.dumps
    for i in indexes:
        value = row[i]
        if value is None:
            continue
        if not value:
            empty = _EMPTY_JSON.get(type(value))
            if empty is not None:
                row[i] = empty
                continue
        row[i] = dumps(value, _json_default, _JSON_OPTS).decode()


def to_row(record: RouteRecord, record_prompts: bool, redactor: Redactor) -> list[Any]:
    """The INSERT parameters for one record, in `COLUMN_NAMES` order.

    Runs once per request in the writer's thread, whose CPU a one-core sidecar takes from
    requests: one C-level attrgetter reads every column, and only the few columns that need
    converting are visited after that (benchmarks/routelog_bench.py). The record is only read:
    the event loop may be reading it at the same time.
    """
    row = list(_ALL_COLUMNS(record))
    if record.detail is not None:
        # The plan and attempt columns the request path left to its detail: built now, into
        # the row, never into the record. (Without a detail, `list_columns()` would only hand
        # back the fields just read, for a dict and four stores per row.)
        columns = record.list_columns()
        for i, name in _DETAIL_INDEX:
            row[i] = columns[name]
    _dump_columns(row, _JSON_INDEX)
    if record_prompts:
        _dump_columns(row, _PROMPT_INDEX)
    else:
        for i in _PROMPT_INDEX:
            row[i] = None
    for i in _BOOL_INDEX:
        row[i] = 1 if row[i] else 0
    for i in _SCRUBBED_INDEX:
        value = row[i]
        if isinstance(value, str):
            row[i] = redactor.text(value)
    return row


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
