"""Schema creation, versioning and migrations on real files."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from routecar.config.model import Retention, RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.record import RouteRecord
from routecar.routelog.rows import to_row
from routecar.routelog.schema import (
    COLUMN_NAMES,
    LOW_CARDINALITY_UNINDEXED,
    MIGRATIONS,
    SCHEMA_VERSION,
    Migration,
    columns_for,
    configure,
    migrate,
)
from tests.routelog.builders import new_writer, read_all, record, write_rows

SPEC_COLUMNS = (
    "ts request_id requested_model route strategy chosen_model provider upstream_model status "
    "outcome attempts attempt_log latency_ms ttft_ms prompt_tokens completion_tokens cost_usd "
    "est_cost_usd stream reason skipped tags shadow_model overhead_ms config_hash cache classes"
).split()

NEXT = SCHEMA_VERSION + 1
NEWER = MIGRATIONS + (Migration(NEXT, add_columns=(("region", "TEXT"), ("retries_saved", "INTEGER"))),)


def indexed_columns(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[2] for idx in conn.execute("PRAGMA index_list(route_log)")
                for row in conn.execute(f"PRAGMA index_info({idx[1]})")}
    finally:
        conn.close()


def table_info(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {row[1]: row[2] for row in conn.execute("PRAGMA table_info(route_log)")}
    finally:
        conn.close()


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def test_table_has_the_spec_columns_and_every_record_field(tmp_path: Path) -> None:
    write_rows(str(tmp_path / "r.db"), [])
    info = table_info(tmp_path / "r.db")
    assert set(SPEC_COLUMNS) <= set(info)
    # Every field is a column, but `detail` (the source of some columns, not one itself) and
    # `trace` and `max_tokens` (the request's trace context and its span's max_tokens, read by the
    # telemetry exporter only).
    assert {f.name for f in dataclasses.fields(RouteRecord)} - {"detail", "trace", "max_tokens"} == set(COLUMN_NAMES)
    assert info["id"] == "INTEGER" and info["ts"] == "REAL" and info["status"] == "INTEGER"
    assert info["stream"] == "INTEGER" and info["attempt_log"] == "TEXT"
    indexed = indexed_columns(tmp_path / "r.db")
    assert {"ts", "request_id"} <= indexed  # logs --since, explain
    assert not indexed & set(LOW_CARDINALITY_UNINDEXED)  # dropped by v2: write cost per row
    assert version(tmp_path / "r.db") == SCHEMA_VERSION


async def test_writer_sets_wal_and_the_schema_version(tmp_path: Path) -> None:
    w = new_writer(RouteLogConfig(path=str(tmp_path / "r.db")))
    await w.start()
    await w.close()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert version(tmp_path / "r.db") == SCHEMA_VERSION


def test_migration_adds_columns_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write_rows(str(path), [record(1), record(2)])
    assert version(path) == SCHEMA_VERSION
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, NEWER) == NEXT
    assert migrate(conn, NEWER) == NEXT  # idempotent
    conn.close()
    info = table_info(path)
    assert info["region"] == "TEXT" and info["retries_saved"] == "INTEGER"
    assert version(path) == NEXT
    assert [r["request_id"] for r in read_all(str(path))] == ["req-000001", "req-000002"]
    assert columns_for(NEWER)[-2:] == (("region", "TEXT"), ("retries_saved", "INTEGER"))


def test_v1_file_loses_the_low_cardinality_indexes_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.close()
    assert set(LOW_CARDINALITY_UNINDEXED) <= indexed_columns(path)
    write_rows(str(path), [record(1), record(2)])  # migrates to the current version
    assert version(path) == SCHEMA_VERSION
    indexed = indexed_columns(path)
    assert {"ts", "request_id"} <= indexed and not indexed & set(LOW_CARDINALITY_UNINDEXED)
    assert [r["request_id"] for r in read_all(str(path))] == ["req-000001", "req-000002"]


def test_a_v1_build_still_writes_a_current_file(tmp_path: Path) -> None:
    """Rollback: a build that only knows v1 opens a file without the dropped indexes."""
    path = tmp_path / "r.db"
    write_rows(str(path), [record(1)])
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, MIGRATIONS[:1]) == SCHEMA_VERSION  # newer than v1: left as it is
    v1_columns = [name for name, _ in columns_for(MIGRATIONS[:1])]
    row = dict(zip(COLUMN_NAMES, to_row(record(2), False, Redactor())))
    conn.execute(f"INSERT INTO route_log ({', '.join(v1_columns)}) VALUES ({', '.join('?' * len(v1_columns))})",
                 [row[name] for name in v1_columns])
    conn.close()
    assert [r["request_id"] for r in read_all(str(path))] == ["req-000001", "req-000002"]


def test_migration_from_an_unversioned_file_with_the_table(tmp_path: Path) -> None:
    # A file whose version was never set (user_version 0) but which has an older table.
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE route_log (id INTEGER PRIMARY KEY, ts REAL NOT NULL, request_id TEXT NOT NULL)")
    conn.execute("INSERT INTO route_log (ts, request_id) VALUES (1.0, 'old')")
    v1 = MIGRATIONS[0]
    missing = tuple((n, t) for n, t in columns_for(MIGRATIONS) if n not in ("ts", "request_id"))
    old_v1 = (Migration(1, statements=v1.statements, add_columns=missing, after=v1.after),)
    assert migrate(conn, old_v1) == 1
    conn.close()
    assert set(COLUMN_NAMES) <= set(table_info(path))
    assert read_all(str(path))[0]["request_id"] == "old"


async def test_writer_runs_on_a_file_from_a_newer_build(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn)
    migrate(conn, NEWER)
    conn.close()
    w = new_writer(RouteLogConfig(path=str(path), retention=Retention(None, None)))
    await w.start()  # the newer file has every column we write: an older sidecar keeps working
    w.submit(record(7))
    await w.close()
    assert version(path) == NEXT
    assert read_all(str(path))[0]["region"] is None


def test_a_newer_file_missing_our_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE route_log (id INTEGER PRIMARY KEY, ts REAL, request_id TEXT)")
    conn.execute("PRAGMA user_version = 9")
    with pytest.raises(sqlite3.DatabaseError, match="lacks columns"):
        migrate(conn)
    conn.close()
