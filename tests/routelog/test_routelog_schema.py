"""Schema creation, versioning and migrations on real files."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from routecar.config.model import Retention, RouteLogConfig
from routecar.routelog.record import RouteRecord
from routecar.routelog.schema import (
    COLUMN_NAMES, MIGRATIONS, SCHEMA_VERSION, Migration, columns_for, configure, migrate,
)
from routecar.routelog.writer import RouteLogWriter

from tests.routelog.builders import read_all, record, write_rows

SPEC_COLUMNS = (
    "ts request_id requested_model route strategy chosen_model provider upstream_model status "
    "outcome attempts attempt_log latency_ms ttft_ms prompt_tokens completion_tokens cost_usd "
    "est_cost_usd stream reason skipped tags shadow_model overhead_ms config_hash cache classes"
).split()

V2 = MIGRATIONS + (Migration(2, add_columns=(("region", "TEXT"), ("retries_saved", "INTEGER"))),)


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
    assert {f.name for f in dataclasses.fields(RouteRecord)} == set(COLUMN_NAMES)
    assert info["id"] == "INTEGER" and info["ts"] == "REAL" and info["status"] == "INTEGER"
    assert info["stream"] == "INTEGER" and info["attempt_log"] == "TEXT"
    conn = sqlite3.connect(tmp_path / "r.db")
    indexed = {row[2] for idx in conn.execute("PRAGMA index_list(route_log)")
               for row in conn.execute(f"PRAGMA index_info({idx[1]})")}
    conn.close()
    assert {"ts", "request_id", "chosen_model", "provider", "route"} <= indexed
    assert version(tmp_path / "r.db") == SCHEMA_VERSION


async def test_writer_sets_wal_and_the_schema_version(tmp_path: Path) -> None:
    w = RouteLogWriter(RouteLogConfig(path=str(tmp_path / "r.db")))
    await w.start()
    await w.close()
    conn = sqlite3.connect(tmp_path / "r.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert version(tmp_path / "r.db") == SCHEMA_VERSION


def test_migration_adds_columns_and_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write_rows(str(path), [record(1), record(2)])
    assert version(path) == 1
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, V2) == 2
    assert migrate(conn, V2) == 2  # idempotent
    conn.close()
    info = table_info(path)
    assert info["region"] == "TEXT" and info["retries_saved"] == "INTEGER"
    assert version(path) == 2
    assert [r["request_id"] for r in read_all(str(path))] == ["req-000001", "req-000002"]
    assert columns_for(V2)[-2:] == (("region", "TEXT"), ("retries_saved", "INTEGER"))


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
    migrate(conn, V2)
    conn.close()
    w = RouteLogWriter(RouteLogConfig(path=str(path), retention=Retention(None, None)))
    await w.start()  # v2 has every column v1 writes: an older sidecar keeps working
    w.submit(record(7))
    await w.close()
    assert version(path) == 2
    assert read_all(str(path))[0]["region"] is None


def test_a_newer_file_missing_our_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE route_log (id INTEGER PRIMARY KEY, ts REAL, request_id TEXT)")
    conn.execute("PRAGMA user_version = 9")
    with pytest.raises(sqlite3.DatabaseError, match="lacks columns"):
        migrate(conn)
    conn.close()
