"""Read-only queries over the route log, used by `routecar logs / stats / explain`.

The file is opened with `mode=ro`, so the commands work while the sidecar is writing (WAL lets
readers and the writer run side by side) and can never change it. Every user-supplied value is
bound as a parameter; column names are checked against the table's own column list before
they reach SQL.
"""

from __future__ import annotations

import os
import re
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from routecar.routelog.errors import RouteLogError, RouteLogMissing
from routecar.routelog.rows import decode_row
from routecar.routelog.schema import BOOL_COLUMNS, JSON_COLUMNS, TABLE

# Keys into JSON objects that --where and --by accept, e.g. tags.team, classes.difficulty.
OBJECT_COLUMNS = ("tags", "classes")
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([^=!<>]+?))?\s*(!=|>=|<=|=|>|<)(.*)$", re.S)
_JSON_KEY = re.compile(r"^[^\"\\]+$")
# A `request_id` prefix search reads at most this many distinct ids to report an ambiguity.
MAX_AMBIGUOUS = 10


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row)}


def open_readonly(path: str) -> sqlite3.Connection:
    """Opens the route log read-only; RouteLogMissing when there is no such file."""
    if not os.path.isfile(path):
        raise RouteLogMissing(
            f"no route log at {path!r}: pass --db PATH, or check route_log.path in the config"
        )
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("PRAGMA busy_timeout=2000")
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (TABLE,)
        ).fetchone()
    except sqlite3.Error as e:
        raise RouteLogError(f"cannot read {path!r} as a route log: {e}") from e
    if not found:
        conn.close()
        raise RouteLogError(f"{path!r} is not a routecar route log (it has no {TABLE} table)")
    conn.row_factory = _dict_row
    return conn


def table_columns(conn: sqlite3.Connection) -> list[str]:
    return [row["name"] for row in conn.execute(f"PRAGMA table_info({TABLE})")]


def json_path(key: str) -> str:
    """A JSON path for one top-level key; raises for keys that could not be quoted safely."""
    if not _JSON_KEY.match(key):
        raise RouteLogError(f"bad key {key!r}: quotes and backslashes are not allowed")
    return f'$."{key}"'


def _valid_keys(columns: list[str]) -> str:
    return ", ".join(columns + [f"{c}.NAME" for c in OBJECT_COLUMNS if c in columns])


@dataclass
class Filters:
    """A WHERE clause built from --since, --where and --errors, with its parameters."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def sql(self, *extra: str) -> str:
        parts = self.clauses + list(extra)
        return (" WHERE " + " AND ".join(parts)) if parts else ""

    def add(self, clause: str, *params: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(params)


def _coerce(column: str, value: str) -> Any:
    if column in BOOL_COLUMNS and value.lower() in ("true", "false", "yes", "no"):
        return 1 if value.lower() in ("true", "yes") else 0
    if column not in JSON_COLUMNS:
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def where_clause(item: str, columns: list[str]) -> tuple[str, list[Any]]:
    """One `--where KEY=VALUE` (also !=, <, <=, >, >=) as SQL with bound parameters.

    KEY is a column of the table or `tags.NAME` / `classes.NAME`; VALUE `null` tests for NULL.
    """
    m = _WHERE.match(item)
    if not m:
        raise RouteLogError(f"bad --where {item!r}: expected KEY=VALUE (or KEY!=VALUE, KEY>VALUE, ...)")
    column, key, op, value = m.group(1), m.group(2), m.group(3), m.group(4).strip()
    if column not in columns:
        raise RouteLogError(f"unknown column {column!r} in --where; valid: {_valid_keys(columns)}")
    params: list[Any] = []
    if key is not None:
        if column not in OBJECT_COLUMNS:
            raise RouteLogError(f"--where {column}.{key}: only {' and '.join(OBJECT_COLUMNS)} have keys")
        lhs = f"json_extract({column}, ?)"
        params.append(json_path(key.strip()))
        rhs_value: Any = value
    else:
        lhs = column
        rhs_value = _coerce(column, value)
    if value.lower() == "null" and op in ("=", "!="):
        return f"{lhs} IS {'NOT ' if op == '!=' else ''}NULL", params
    if op == "!=":
        # SQL's != is never true against NULL; an SRE asking provider!=openai wants those rows too.
        return f"({lhs} IS NULL OR {lhs} != ?)", params + params + [rhs_value]
    return f"{lhs} {op} ?", params + [rhs_value]


def build_filters(
    columns: list[str],
    *,
    since: float | None = None,
    where: list[str] | tuple[str, ...] = (),
    errors: bool = False,
) -> Filters:
    f = Filters()
    if since is not None:
        f.add("ts >= ?", since)
    for item in where:
        clause, params = where_clause(item, columns)
        f.add(clause, *params)
    if errors:
        f.add("COALESCE(outcome, '') != 'ok'")
    return f


def tail(conn: sqlite3.Connection, filters: Filters, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` matching rows, oldest first, JSON columns decoded."""
    rows = conn.execute(
        f"SELECT * FROM {TABLE}{filters.sql()} ORDER BY id DESC LIMIT ?", (*filters.params, limit)
    ).fetchall()
    rows.reverse()
    return [decode_row(r) for r in rows]


def newer_than(
    conn: sqlite3.Connection, filters: Filters, last_id: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """Matching rows with id > last_id, oldest first (what `logs -f` polls for)."""
    rows = conn.execute(
        f"SELECT * FROM {TABLE}{filters.sql('id > ?')} ORDER BY id LIMIT ?",
        (*filters.params, last_id, limit),
    ).fetchall()
    return [decode_row(r) for r in rows]


def max_id(conn: sqlite3.Connection) -> int:
    row = conn.execute(f"SELECT COALESCE(max(id), 0) AS m FROM {TABLE}").fetchone()
    return int(row["m"])


class AmbiguousRequestId(RouteLogError):
    """Part of an id that more than one request id starts or ends with; `candidates` holds the
    newest row of each (at most MAX_AMBIGUOUS), `more` whether there were others."""

    def __init__(self, given: str, candidates: list[dict[str, Any]], more: bool) -> None:
        ids = ", ".join(str(c["request_id"]) for c in candidates) + (" ..." if more else "")
        super().__init__(f"request id {given!r} is ambiguous, it matches: {ids}")
        self.given = given
        self.candidates = candidates
        self.more = more


# What `routecar logs` puts in front of an id it shows by its end only.
_ELLIPSES = ("…", "...")


def find_request(conn: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    """Rows of one request, oldest first: by its full id, else by a unique prefix or suffix of
    it (`routecar logs` shows a long id as "…" and its end; that form is taken as a suffix).

    A client may reuse an x-routecar-request-id, so one id can have several rows. Raises
    RouteLogMissing when nothing matches, AmbiguousRequestId when several ids do.
    """
    given = request_id.strip()
    if not given:
        raise RouteLogError("empty request id")
    rows = _rows_of(conn, given)
    if rows:
        return rows
    part = given
    suffix_only = part.startswith(_ELLIPSES)
    for mark in _ELLIPSES:
        part = part.removeprefix(mark)
    if not part:
        raise RouteLogError(f"request id {given!r} has nothing but an ellipsis")
    ids = [] if suffix_only else _ids_starting_with(conn, part)
    ids += [i for i in _ids_ending_with(conn, part) if i not in ids]
    if not ids:
        raise RouteLogMissing(
            f"no request {given!r} in the route log: no id is, starts with or ends with it "
            "(`routecar logs` shows the ids)")
    if len(ids) > 1:
        candidates = [_newest_row(conn, i) for i in ids[:MAX_AMBIGUOUS]]
        raise AmbiguousRequestId(given, candidates, more=len(ids) > MAX_AMBIGUOUS)
    return _rows_of(conn, ids[0])


def _rows_of(conn: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(f"SELECT * FROM {TABLE} WHERE request_id = ? ORDER BY id", (request_id,)).fetchall()
    return [decode_row(r) for r in rows]


def _newest_row(conn: sqlite3.Connection, request_id: str) -> dict[str, Any]:
    row = conn.execute(f"SELECT * FROM {TABLE} WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                       (request_id,)).fetchone()
    return decode_row(row)


def _ids_starting_with(conn: sqlite3.Connection, prefix: str) -> list[str]:
    # Range scan on the request_id index: every string that starts with the prefix sorts
    # between it and the prefix followed by the highest code point.
    return [r["request_id"] for r in conn.execute(
        f"SELECT DISTINCT request_id FROM {TABLE} WHERE request_id >= ? AND request_id < ? "
        "ORDER BY request_id LIMIT ?",
        (prefix, prefix + "\U0010ffff", MAX_AMBIGUOUS + 1),
    )]


def _ids_ending_with(conn: sqlite3.Connection, suffix: str) -> list[str]:
    # No index serves a suffix, so this reads every id once; explain asks for one request at a
    # time, and the newest ids (the likeliest meant) come first. substr() rather than LIKE, so
    # `%` and `_` in what the user typed are plain characters.
    return [r["request_id"] for r in conn.execute(
        f"SELECT request_id FROM {TABLE} WHERE substr(request_id, -?) = ? "
        "GROUP BY request_id ORDER BY max(id) DESC LIMIT ?",
        (len(suffix), suffix, MAX_AMBIGUOUS + 1),
    )]
