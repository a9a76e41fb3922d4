"""The `route_log` table: its columns, its version and how an older file is brought up to date.

The schema version lives in `PRAGMA user_version`. Migrations only ever add tables and
columns, never rename or drop them, so a file written by a newer routecar stays readable and
writable by an older one during a rolling upgrade or a rollback. Indexes may be added or
dropped (v2 drops three): every query works without them, only slower or faster.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

TABLE = "route_log"

# (name, SQL type) in table order. Each name is also a `RouteRecord` field, except `id`.
V1_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ts", "REAL NOT NULL"),
    ("request_id", "TEXT NOT NULL"),
    ("endpoint", "TEXT"),
    ("requested_model", "TEXT"),
    ("route", "TEXT"),
    ("strategy", "TEXT"),
    ("chosen_model", "TEXT"),
    ("provider", "TEXT"),
    ("upstream_model", "TEXT"),
    ("status", "INTEGER"),
    ("outcome", "TEXT"),
    ("attempts", "INTEGER"),
    ("attempt_log", "TEXT"),
    ("latency_ms", "REAL"),
    ("ttft_ms", "REAL"),
    ("prompt_tokens", "INTEGER"),
    ("completion_tokens", "INTEGER"),
    ("cost_usd", "REAL"),
    ("est_cost_usd", "REAL"),
    ("stream", "INTEGER"),
    ("reason", "TEXT"),
    ("skipped", "TEXT"),
    ("candidates", "TEXT"),
    ("rules_matched", "TEXT"),
    ("tags", "TEXT"),
    ("shadow_model", "TEXT"),
    ("overhead_ms", "REAL"),
    ("config_hash", "TEXT"),
    ("cache", "TEXT NOT NULL DEFAULT ''"),
    ("classes", "TEXT"),
    ("error_message", "TEXT"),
    ("escalations", "INTEGER"),
    ("fallback", "INTEGER"),
    ("canary", "INTEGER"),
    ("prompt", "TEXT"),
    ("response", "TEXT"),
)


@dataclass(frozen=True)
class Migration:
    """Brings a file from `version - 1` to `version`.

    Run in order: `statements`, then `add_columns` (only those missing, so a migration is safe
    on a file that a newer build already extended), then `after` (indexes over those columns).
    """

    version: int
    statements: tuple[str, ...] = ()
    add_columns: tuple[tuple[str, str], ...] = ()
    after: tuple[str, ...] = ()


def _v1() -> Migration:
    cols = ",\n  ".join(f"{name} {sqltype}" for name, sqltype in V1_COLUMNS)
    create = f"CREATE TABLE IF NOT EXISTS {TABLE} (\n  id INTEGER PRIMARY KEY,\n  {cols}\n)"
    indexes = tuple(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{col} ON {TABLE}({col})"
        for col in ("ts", "request_id", "chosen_model", "provider", "route")
    )
    return Migration(1, statements=(create,), after=indexes)


# Indexed by v1, dropped by v2.
LOW_CARDINALITY_UNINDEXED = ("chosen_model", "provider", "route")


def _v2() -> Migration:
    # The v1 indexes on chosen_model, provider and route cost three B-tree inserts per row in
    # the writer (about 2 µs of a ~14 µs row, on the one core requests also use) and the SRE
    # queries barely use them: `stats --by` groups on COALESCE expressions or scans anyway, and
    # `logs --where provider=X` walks ids newest first and stops after its 50 rows. The worst
    # case without them, a value no row has, is one scan: about 40 ms on 200k rows
    # (benchmarks/routelog_bench.py has the write side). An older build keeps working on a v2
    # file: it needs the columns, not the indexes.
    drops = tuple(f"DROP INDEX IF EXISTS {TABLE}_{col}" for col in LOW_CARDINALITY_UNINDEXED)
    return Migration(2, statements=drops)


# Append here; never edit a released entry. A later version adding a column looks like:
#   Migration(3, add_columns=(("region", "TEXT"),))
# The router's inputs that the request parsing computed (RoutingRequest), so `routecar replay`
# can re-decide a logged request under another config. NULL in rows written before v3 (and in
# rows rejected before their body was parsed): replay counts those as unjudged. Not in
# BOOL_COLUMNS, whose conversion would turn "not recorded" (NULL) into false.
REPLAY_INPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("est_prompt_tokens", "INTEGER"),
    ("est_output_tokens", "INTEGER"),
    ("has_tools", "INTEGER"),
    ("has_images", "INTEGER"),
    ("json_mode", "INTEGER"),
    ("json_schema", "INTEGER"),
)


def _v3() -> Migration:
    return Migration(3, add_columns=REPLAY_INPUT_COLUMNS)


MIGRATIONS: tuple[Migration, ...] = (_v1(), _v2(), _v3())

SCHEMA_VERSION = MIGRATIONS[-1].version


def columns_for(migrations: tuple[Migration, ...]) -> tuple[tuple[str, str], ...]:
    """Every (name, type) the given migrations produce, in table order (without `id`)."""
    out = list(V1_COLUMNS)
    for m in migrations:
        out.extend(c for c in m.add_columns if c not in out)
    return tuple(out)


COLUMNS: tuple[tuple[str, str], ...] = columns_for(MIGRATIONS)
COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in COLUMNS)

# Columns holding JSON text; the writer serializes them and the readers decode them.
JSON_COLUMNS = frozenset(
    {"attempt_log", "skipped", "candidates", "rules_matched", "tags", "classes", "prompt", "response"}
)
BOOL_COLUMNS = frozenset({"stream", "fallback", "canary"})

INSERT_SQL = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMN_NAMES)}) "
    f"VALUES ({', '.join('?' for _ in COLUMN_NAMES)})"
)

log = logging.getLogger("routecar.routelog")


def configure(conn: sqlite3.Connection) -> None:
    """Connection settings the writer relies on: WAL so readers never block it, and NORMAL
    sync, which in WAL mode can lose at most the last commits on power loss, never corrupt."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def existing_columns(conn: sqlite3.Connection) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Applies every migration newer than the file's version, each in its own transaction.

    Returns the version the file is at afterwards. A file from a newer routecar is left as it
    is (it only has extra columns), as long as it has every column this build writes.
    """
    current = user_version(conn)
    for m in migrations:
        if m.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in m.statements:
                conn.execute(stmt)
            have = existing_columns(conn)
            for name, sqltype in m.add_columns:
                if name not in have:
                    conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {sqltype}")
            for stmt in m.after:
                conn.execute(stmt)
            # PRAGMA takes no parameters; the version is an int from our own table.
            conn.execute(f"PRAGMA user_version = {int(m.version)}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = m.version
    latest = migrations[-1].version
    if current > latest:
        missing = [n for n, _ in columns_for(migrations) if n not in existing_columns(conn)]
        if missing:
            raise sqlite3.DatabaseError(
                f"route log schema v{current} lacks columns {missing} that this build writes"
            )
        log.warning("route log schema is v%d, newer than this build's v%d", current, latest)
    return current
