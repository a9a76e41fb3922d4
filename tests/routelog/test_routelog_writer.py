"""The writer against real SQLite files: every row lands, batching, drops, close, errors."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import orjson
import pytest

from routecar.config.model import Retention, RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.errors import RouteLogError
from routecar.routelog.record import RouteRecord
from routecar.routelog.schema import COLUMN_NAMES, JSON_COLUMNS
from tests.routelog.builders import every_kind, new_writer, read_all, record, wait_until

NO_RETENTION = Retention(max_age=None, max_rows=None)
NEVER = 3600.0  # a flush interval that never elapses within a test


def cfg(path: Path, **kw: object) -> RouteLogConfig:
    base: dict[str, object] = dict(path=str(path), retention=NO_RETENTION)
    base.update(kw)
    return RouteLogConfig(**base)  # type: ignore[arg-type]


def expected_value(rec: RouteRecord, name: str, record_prompts: bool) -> object:
    value = getattr(rec, name)
    if name in ("prompt", "response") and not record_prompts:
        return None
    if isinstance(value, bool):
        return int(value)
    return value


async def test_every_kind_of_record_becomes_exactly_one_faithful_row(tmp_path: Path) -> None:
    records = every_kind()
    w = new_writer(cfg(tmp_path / "r.db", batch_size=7))
    await w.start()
    for r in records:
        assert w.submit(r)
    await w.close()
    rows = read_all(str(tmp_path / "r.db"))
    assert len(rows) == len(records) == w.written
    assert w.dropped == 0
    for rec, row in zip(records, rows):
        for name in COLUMN_NAMES:
            got = row[name]
            if name in JSON_COLUMNS and got is not None:
                got = orjson.loads(got)
            assert got == expected_value(rec, name, False), name
    assert {r["outcome"] for r in rows} >= {"ok", "timeout", "budget_rejected", "stream_broken"}
    assert rows[0]["cache"] == "miss" and rows[-1]["cache"] == ""


async def test_prompts_are_stored_only_when_asked(tmp_path: Path) -> None:
    for record_prompts, db in ((False, "off.db"), (True, "on.db")):
        w = new_writer(cfg(tmp_path / db, record_prompts=record_prompts))
        await w.start()
        w.submit(record(1))
        await w.close()
        row = read_all(str(tmp_path / db))[0]
        if record_prompts:
            assert orjson.loads(row["prompt"]) == [{"role": "user", "content": "hello 1"}]
            assert orjson.loads(row["response"]) == {"content": "hi"}
        else:
            assert row["prompt"] is None and row["response"] is None


async def test_error_messages_are_scrubbed_with_the_writers_redactor(tmp_path: Path) -> None:
    """The process's Redactor: a secret registered after the writer was built (a reload) is
    scrubbed too; the record itself keeps the upstream's words (the loop may still read it)."""
    redactor = Redactor()
    w = new_writer(cfg(tmp_path / "r.db"), redactor=redactor)
    redactor.register("opaque-key-9f8e7d")
    rec = record(1, error_message="Incorrect API key provided: opaque-key-9f8e7d (sk-abcdefghijklmnop)")
    await w.start()
    w.submit(rec)
    await w.close()
    row = read_all(str(tmp_path / "r.db"))[0]
    assert row["error_message"] == "Incorrect API key provided: [REDACTED] ([REDACTED])"
    assert "opaque-key-9f8e7d" in (rec.error_message or "")


async def test_odd_values_in_json_fields_never_fail_a_batch(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db"))
    await w.start()
    w.submit(record(1, tags={"team": "a"}, classes={"x": {1, 2}, 3: object()},
                    candidates=[{"model": "m", "score": (1, 2)}]))
    await w.close()
    row = read_all(str(tmp_path / "r.db"))[0]
    classes = orjson.loads(row["classes"])
    assert sorted(classes["x"]) == [1, 2] and "3" in classes
    assert orjson.loads(row["candidates"]) == [{"model": "m", "score": [1, 2]}]


async def test_a_full_batch_is_written_without_waiting_for_the_interval(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db", batch_size=10, flush_interval=NEVER))
    await w.start()
    for i in range(25):
        w.submit(record(i))
    await wait_until(lambda: w.written >= 20)
    # Full batches are written at once; whatever is short of a batch may wait for the interval
    # (whether the last 5 rode along depends on when the writer woke), but nothing is lost.
    assert w.written + w.queue_depth == 25
    await w.close()
    assert w.written == 25 and len(read_all(str(tmp_path / "r.db"))) == 25


async def test_a_partial_batch_is_written_when_the_interval_elapses(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db", batch_size=1000, flush_interval=0.02))
    await w.start()
    for i in range(3):
        w.submit(record(i))
    await wait_until(lambda: w.written == 3)
    assert w.queue_depth == 0
    await w.close()


async def test_flush_waits_for_everything_submitted(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db", batch_size=100, flush_interval=NEVER))
    await w.start()
    for i in range(250):
        w.submit(record(i))
    await asyncio.wait_for(w.flush(), 30)
    assert w.written == 250 and len(read_all(str(tmp_path / "r.db"))) == 250
    await w.close()


async def test_queue_full_drops_are_counted_reported_and_rate_limited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    drops: list[int] = []
    w = new_writer(
        cfg(tmp_path / "r.db", queue_size=5, batch_size=100, flush_interval=NEVER),
        on_drop=drops.append, monotonic=lambda: now[0],
    )
    await w.start()
    with caplog.at_level(logging.WARNING, logger="routecar.routelog"):
        accepted = [w.submit(record(i)) for i in range(8)]
        assert accepted == [True] * 5 + [False] * 3
        assert w.dropped == 3 and sum(drops) == 3 and w.queue_depth == 5
        warnings = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert len(warnings) == 1  # the first drop warns, the next ones within 10 s do not
        now[0] += 11
        assert not w.submit(record(9))
        warnings = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
        assert len(warnings) == 2 and "dropped 3 records" in warnings[1]
    await w.close()
    assert len(read_all(str(tmp_path / "r.db"))) == 5


async def test_close_writes_everything_queued(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db", batch_size=500, flush_interval=NEVER))
    await w.start()
    for i in range(1234):
        w.submit(record(i))
    await w.close()
    assert w.written == 1234 and len(read_all(str(tmp_path / "r.db"))) == 1234
    assert not w.submit(record(9999)) and w.dropped == 1  # closed: refused and counted
    await w.close()  # twice is fine


async def test_records_submitted_before_start_are_written(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "r.db"))
    w.submit(record(1))
    assert not w.writable
    await w.start()
    assert w.writable
    await w.close()
    assert len(read_all(str(tmp_path / "r.db"))) == 1


async def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    w = new_writer(cfg(blocker / "routes.db"))
    with pytest.raises(RouteLogError, match="not writable"):
        await w.start()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(RouteLogError, match="garbage.db"):
        await new_writer(cfg(garbage)).start()


async def test_missing_parent_directories_are_created(tmp_path: Path) -> None:
    w = new_writer(cfg(tmp_path / "a" / "b" / "routes.db"))
    await w.start()
    w.submit(record(1))
    await w.close()
    assert len(read_all(str(tmp_path / "a" / "b" / "routes.db"))) == 1


async def test_write_errors_are_retried_counted_and_survived(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    drops: list[int] = []
    w = new_writer(cfg(path, batch_size=4, flush_interval=NEVER), on_drop=drops.append,
                       retry_delays=(0.0, 0.0))
    await w.start()
    # Another process removes the table under the writer: every insert now fails.
    other = sqlite3.connect(path)
    other.execute("DROP TABLE route_log")
    other.commit()
    for i in range(4):
        w.submit(record(i))
    await asyncio.wait_for(w.flush(), 30)
    assert w.write_errors == 3  # one try and two retries
    assert w.dropped == 4 and sum(drops) == 4 and w.written == 0
    assert not w.writable
    # The table comes back: the writer recovers by itself.
    other.execute("PRAGMA user_version = 0")
    other.commit()
    other.close()
    from routecar.routelog.schema import migrate

    fix = sqlite3.connect(path, isolation_level=None)
    migrate(fix)
    fix.close()
    for i in range(4):
        w.submit(record(10 + i))
    await asyncio.wait_for(w.flush(), 30)
    assert w.written == 4 and w.writable
    await w.close()
    assert [r["request_id"] for r in read_all(str(path))] == [f"req-{10 + i:06d}" for i in range(4)]


async def test_readers_see_rows_while_the_writer_writes(tmp_path: Path) -> None:
    from routecar.routelog.reader import open_readonly

    path = tmp_path / "r.db"
    w = new_writer(cfg(path, batch_size=50, flush_interval=NEVER))
    await w.start()
    reader = open_readonly(str(path))
    # A reader inside a long read transaction must not block the writer (WAL).
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) AS n FROM route_log").fetchone()["n"] == 0
    for i in range(200):
        w.submit(record(i))
    await asyncio.wait_for(w.flush(), 30)
    # Still its old snapshot inside the transaction; the new rows once it ends.
    assert reader.execute("SELECT count(*) AS n FROM route_log").fetchone()["n"] == 0
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) AS n FROM route_log").fetchone()["n"] == 200
    with pytest.raises(sqlite3.OperationalError):
        reader.execute("DELETE FROM route_log")  # read-only: the CLI can never change it
    reader.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await w.close()
