"""Plan and attempt columns built by the writer from a record's `detail`.

The request path may hand the record, instead of the `candidates`, `rules_matched`, `skipped`
and `attempt_log` lists, a `detail` (its immutable plan and dispatch outcome) that builds them.
The writer builds them into the row, in its own thread, and never into the record: the row is
the one the lists would have given, and the record is the same after as before.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from pathlib import Path
from typing import Any

from routecar.config.model import Retention, RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.record import DETAIL_COLUMNS, RouteRecord
from routecar.routelog.rows import to_row
from tests.routelog.builders import attempt, new_writer, read_all

ATTEMPTS = [attempt("pa", "up-small", "small", 503, "http_5xx", 12.35),
            attempt("pb", "up-small", "small", 200, None, 101.24, 40.0) | {"check": "passed"}]
COLUMNS: dict[str, Any] = {
    "candidates": [{"slug": "small", "deployment": "pa/up-small", "score": 0.15},
                   {"slug": "big", "deployment": "pa/up-big", "score": 2.5}],
    "rules_matched": ["tags.team=search"],
    "skipped": [{"slug": "huge", "deployment": None, "why": "context window too small"},
                {"slug": "big", "deployment": "pa/up-big", "why": "circuit_open", "retry_in_s": 12.5}],
    "attempt_log": ATTEMPTS,
}


class Detail:
    """A RowDetail double: builds fresh columns on every call, and counts the calls."""

    def __init__(self) -> None:
        self.calls = 0

    def columns(self) -> dict[str, Any]:
        self.calls += 1
        return {name: [dict(x) if isinstance(x, dict) else x for x in value] for name, value in COLUMNS.items()}

    def attempt_outcomes(self) -> list[tuple[str, str, str]]:
        return [(a["provider"], a["slug"], a["error"] or "ok") for a in ATTEMPTS]


def base(request_id: str, **kw: Any) -> RouteRecord:
    return RouteRecord(ts=1700000000.0, request_id=request_id, endpoint="chat", status=200, attempts=2,
                       error_message="upstream said sk-abcdefghijklmnop", **kw)


def eager(request_id: str = "r") -> RouteRecord:
    """The same row, its lists built on the request path."""
    return base(request_id, **{name: list(value) for name, value in COLUMNS.items()})


def fields(rec: RouteRecord) -> list[Any]:
    return [getattr(rec, f.name) for f in dataclasses.fields(rec)]


def test_a_detailed_row_is_the_eager_row() -> None:
    redactor = Redactor()
    for record_prompts in (False, True):
        want = to_row(eager(), record_prompts, redactor)
        assert to_row(base("r", detail=Detail()), record_prompts, redactor) == want


def test_row_building_never_writes_into_the_record() -> None:
    detail = Detail()
    rec = base("r", detail=detail)
    before = fields(rec)
    lists = [getattr(rec, name) for name in DETAIL_COLUMNS]
    to_row(rec, False, Redactor())
    to_row(rec, True, Redactor())
    assert fields(rec) == before
    assert all(getattr(rec, name) is same and same == [] for name, same in zip(DETAIL_COLUMNS, lists))
    assert rec.detail is detail and detail.calls == 2  # asked once per row built
    assert rec.error_message == "upstream said sk-abcdefghijklmnop"  # scrubbed in the row only


def test_a_record_without_detail_is_stored_as_it_is() -> None:
    rec = eager()
    row = to_row(rec, False, Redactor())
    assert rec.attempt_log == ATTEMPTS  # neither copied into nor changed
    assert '"check":"passed"' in row[[f.name for f in dataclasses.fields(rec)].index("attempt_log")]


def test_rows_built_in_another_thread_while_the_loop_reads_the_same_records() -> None:
    """The writer builds rows in aiosqlite's thread while the loop may still read the record
    (metrics, a log line): with nothing written into it, both always see the same values."""
    records = [base(f"r{i}", detail=Detail()) for i in range(2000)]
    before = [fields(r) for r in records]
    rows: list[list[Any]] = []
    redactor = Redactor()

    def build() -> None:
        rows.extend(to_row(r, False, redactor) for r in records)

    t = threading.Thread(target=build)
    t.start()
    seen = {tuple(r.attempt_outcomes()) for r in records}
    t.join()
    assert seen == {(("pa", "small", "http_5xx"), ("pb", "small", "ok"))}
    assert [fields(r) for r in records] == before and len(rows) == 2000


async def test_writer_stores_the_detail_columns(tmp_path: Path) -> None:
    path = tmp_path / "routes.db"
    writer = new_writer(RouteLogConfig(path=str(path), retention=Retention(max_age=None, max_rows=None)))
    await writer.start()
    try:
        writer.submit(eager("eager"))
        writer.submit(base("detailed", detail=Detail()))
        await asyncio.wait_for(writer.flush(), 10)
    finally:
        await writer.close()
    got = {r["request_id"]: r for r in read_all(str(path))}
    for col in DETAIL_COLUMNS:
        assert got["detailed"][col] == got["eager"][col], col
    assert '"check":"passed"' in got["detailed"]["attempt_log"]
    assert got["detailed"]["error_message"] == "upstream said [REDACTED]"
