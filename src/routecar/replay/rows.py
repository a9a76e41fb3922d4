"""Logged rows, oldest first, streamed from the route log in batches (bounded memory)."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterator

import orjson

from ..routelog.schema import REPLAY_INPUT_COLUMNS, TABLE

# What replay reads of a row, in this order (LoggedRow's fields).
COLUMNS: tuple[str, ...] = (
    "ts", "request_id", "endpoint", "requested_model", "route", "strategy", "chosen_model", "status",
    "outcome", "attempt_log", "prompt_tokens", "completion_tokens", "cost_usd", "candidates", "tags",
    "classes", "stream", *(name for name, _ in REPLAY_INPUT_COLUMNS),
)
INDEX = {name: i for i, name in enumerate(COLUMNS)}
BATCH = 2000


def select_sql(have: set[str], since: float | None, route: str | None) -> tuple[str, list[Any]]:
    """The query over whatever columns the file has: a column an older schema lacks reads as
    NULL, so a file no build of this version ever migrated can still be replayed (as unjudged)."""
    cols = ", ".join(c if c in have else f"NULL AS {c}" for c in COLUMNS)
    where, params = [], []
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    if route is not None:
        where.append("(requested_model = ? OR route = ?)")
        params += [route, route]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {cols} FROM {TABLE}{clause} ORDER BY ts, id", params


def stream_rows(conn: sqlite3.Connection, since: float | None = None, route: str | None = None,
                batch: int = BATCH) -> Iterator[tuple[Any, ...]]:
    """Each matching row as a tuple in COLUMNS order, in time order, `batch` at a time."""
    # Plain tuples whatever the connection's row factory (the readers' is a dict per row).
    cur = conn.cursor()
    cur.row_factory = None
    have = {row[1] for row in cur.execute(f"PRAGMA table_info({TABLE})")}
    sql, params = select_sql(have, since, route)
    cur.execute(sql, params)
    try:
        while True:
            chunk = cur.fetchmany(batch)
            if not chunk:
                return
            yield from chunk
    finally:
        cur.close()


def json_cell(text: Any) -> Any:
    """A JSON column's value; None when empty or not JSON (a row is judged, never a crash)."""
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
