"""Retention by age and by row count, run by hand and by the writer's own schedule."""

from __future__ import annotations

import time
from pathlib import Path

from routecar.config.model import Retention, RouteLogConfig
from tests.routelog.builders import new_writer, read_all, record, wait_until, write_rows

DAY = 86400.0


async def test_prune_by_age_deletes_only_old_rows_in_chunks(tmp_path: Path) -> None:
    now = 1_700_000_000.0
    path = tmp_path / "r.db"
    old = [record(i, ts=now - 8 * DAY) for i in range(4500)]  # more than two 2,000-row chunks
    new = [record(10_000 + i, ts=now - DAY) for i in range(30)]
    write_rows(str(path), old[:2000] + new[:10] + old[2000:] + new[10:])
    w = new_writer(RouteLogConfig(path=str(path), retention=Retention(max_age=7 * DAY, max_rows=None)),
                       clock=lambda: now)
    await w.start()
    await w.prune()
    await w.close()
    rows = read_all(str(path))
    assert len(rows) == 30 and all(r["ts"] == now - DAY for r in rows)


async def test_prune_by_rows_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write_rows(str(path), [record(i) for i in range(350)])
    w = new_writer(RouteLogConfig(path=str(path), retention=Retention(max_age=None, max_rows=100)))
    await w.start()
    await w.prune()
    rows = read_all(str(path))
    assert len(rows) == 100
    assert [r["request_id"] for r in rows] == [f"req-{i:06d}" for i in range(250, 350)]
    assert await w.prune() == 0  # nothing more to do
    await w.close()


async def test_retention_runs_at_start_and_then_periodically(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    write_rows(str(path), [record(i) for i in range(300)])
    mono = [0.0]
    w = new_writer(
        RouteLogConfig(path=str(path), flush_interval=0.01, retention=Retention(max_age=DAY, max_rows=50)),
        monotonic=lambda: mono[0], retention_every=60.0,
    )
    await w.start()
    await wait_until(lambda: len(read_all(str(path))) == 50)
    # Rows that are too old arrive; they stay until the next pass is due.
    for i in range(5):
        w.submit(record(1000 + i, ts=time.time() - 2 * DAY))
    await w.flush()
    assert len(read_all(str(path))) == 55
    mono[0] += 61
    await wait_until(lambda: len(read_all(str(path))) == 50)
    assert not any(r["request_id"].startswith("req-0010") for r in read_all(str(path)))
    await w.close()
