"""Deferred plan and attempt columns: built by the writer, the same row as built on the spot.

The handler hands the record its Plan and Attempts (`defer_plan` / `defer_attempts`) and the
writer builds `candidates`, `rules_matched`, `skipped` and `attempt_log` when it serializes the
row. These tests build the same columns the way the request path used to (eagerly) and check
the deferred record gives the identical SQLite row, through a real writer and file.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from routecar.config.loader import parse_config
from routecar.config.model import RouteLogConfig
from routecar.dispatch.dispatcher import Attempts
from routecar.health.registry import HealthRegistry
from routecar.router.cost import build_routing_request
from routecar.router.plan import Plan
from routecar.router.router import Router
from routecar.routelog.record import AttemptRecord, RouteRecord
from routecar.routelog.rows import to_row
from routecar.routelog.schema import COLUMN_NAMES
from routecar.routelog.writer import RouteLogWriter
from tests.helpers import read_rows

CONFIG = """
providers:
  pa: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'k'}
  pb: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'k'}
models:
  small:
    price: {input: 0.15, output: 0.6}
    deployments: [{provider: pa, model: up-small, weight: 3}, {provider: pb, model: up-small}]
    fallbacks: [big]
  big:
    price: {input: 2.5, output: 10.0}
    deployments: [{provider: pa, model: up-big}]
routes:
  r: {strategy: cheapest, candidates: [small, big]}
route_log: {path: unused.db}
"""
NOW = 5000.0


def plan() -> Plan:
    cfg = parse_config(CONFIG)
    router = Router(cfg, HealthRegistry(cfg))
    p = router.plan(build_routing_request("chat", {"model": "r", "messages": [{"role": "user", "content": "hi"}]},
                                          {}))
    p.rules_matched.append("tags.team=search")
    p.skipped.append({"slug": "huge", "deployment": None, "why": "context window too small"})
    return p


def attempts() -> Attempts:
    a = Attempts()
    a.log.append(AttemptRecord("pa", "up-small", "small", 503, "http_5xx", 12.3456))
    a.log.append(AttemptRecord("pb", "up-small", "small", 200, None, 101.239, 40.004))
    a.checks[1] = "passed"
    a.skipped.append({"slug": "big", "deployment": "pa/up-big", "why": "circuit_open", "retry_at": NOW + 12.5})
    a.skipped.append({"slug": "big", "deployment": "pa/up-big", "why": "retry budget exhausted"})
    return a


def base(request_id: str) -> RouteRecord:
    return RouteRecord(ts=1700000000.0, request_id=request_id, endpoint="chat", status=200, attempts=2)


def eager(p: Plan, a: Attempts) -> RouteRecord:
    """What the request path built before the columns were deferred."""
    rec = base("eager")
    rec.rules_matched = list(p.rules_matched)
    rec.candidates = [c.describe() for c in p.candidates]
    rec.attempt_log = [x.as_dict() for x in a.log]
    for i, verdict in a.checks.items():
        rec.attempt_log[i]["check"] = verdict
    rec.skipped = list(p.skipped) + [
        {k: v for k, v in s.items() if k != "retry_at"}
        | ({"retry_in_s": round(max(0.0, s["retry_at"] - NOW), 3)} if s.get("retry_at") else {})
        for s in a.skipped
    ]
    return rec


def deferred(p: Plan, a: Attempts) -> RouteRecord:
    rec = base("eager")
    rec.defer_plan(p)
    rec.defer_attempts(a, p, NOW)
    return rec


def test_deferred_row_is_the_eager_row() -> None:
    p, a = plan(), attempts()
    want = to_row(eager(p, a), record_prompts=False)
    assert to_row(deferred(p, a), record_prompts=False) == want
    rec = deferred(p, a)
    rec.materialize()
    rec.materialize()  # idempotent
    assert to_row(rec, record_prompts=False) == want
    assert rec.skipped[-2] == {"slug": "big", "deployment": "pa/up-big", "why": "circuit_open", "retry_in_s": 12.5}
    assert rec.attempt_log[1]["check"] == "passed" and rec.attempt_log[0]["latency_ms"] == 12.35


def test_plan_only_rows_keep_the_plans_skips_and_no_attempts() -> None:
    """A cache hit (or a budget rejection) records the plan but never the attempts."""
    p = plan()
    rec = base("hit")
    rec.defer_plan(p)
    rec.materialize()
    assert rec.skipped == list(p.skipped) and rec.attempt_log == []
    assert [c["slug"] for c in rec.candidates] == [c.slug for c in p.candidates]
    assert rec.rules_matched == ["tags.team=search"]


def test_attempts_without_a_recorded_plan_leave_candidates_empty() -> None:
    """A downgrade that could not be planned records attempts against the first plan only."""
    p, a = plan(), attempts()
    rec = base("x")
    rec.defer_attempts(a, p, NOW)
    rec.materialize()
    assert rec.candidates == [] and rec.rules_matched == []
    assert len(rec.attempt_log) == 2 and len(rec.skipped) == 3


def test_a_materialized_log_takes_late_edits() -> None:
    """A stream marks its last attempt after the fact: the edit must reach the row and the metrics."""
    p, a = plan(), attempts()
    rec = deferred(p, a)
    assert rec.attempt_entries() is a.log  # metrics read the AttemptRecords while deferred
    rec.materialize()
    rec.attempt_log[-1]["error"] = "stream_broken"
    rec.attempt_log[-1]["latency_ms"] = 999.0
    assert rec.attempt_entries()[-1]["error"] == "stream_broken"
    row = dict(zip(COLUMN_NAMES, to_row(rec, record_prompts=False)))
    assert '"error":"stream_broken"' in row["attempt_log"] and '"latency_ms":999.0' in row["attempt_log"]


def test_records_built_without_deferral_are_untouched() -> None:
    rec = base("plain")
    rec.attempt_log = [{"provider": "p", "error": None}]
    rec.materialize()
    assert rec.attempt_log == [{"provider": "p", "error": None}] and rec.attempt_entries() == rec.attempt_log


def test_materializing_in_another_thread_while_metrics_read() -> None:
    """The writer builds rows in aiosqlite's thread; a reader on the loop sees source or result."""
    p, a = plan(), attempts()
    records = [deferred(p, a) for _ in range(2000)]
    seen: list[int] = []

    def build() -> None:
        for r in records:
            r.materialize()

    t = threading.Thread(target=build)
    t.start()
    for r in records:
        entries = r.attempt_entries()
        seen.append(len(entries))
    t.join()
    assert set(seen) == {2}


async def test_writer_stores_deferred_columns(tmp_path: Any) -> None:
    p, a = plan(), attempts()
    want = eager(p, a)
    rec = deferred(p, a)
    rec.request_id = "deferred"
    writer = RouteLogWriter(RouteLogConfig(path=str(tmp_path / "routes.db")))
    await writer.start()
    try:
        writer.submit(want)
        writer.submit(rec)
        await asyncio.wait_for(writer.flush(), 10)
    finally:
        await writer.close()
    got = {r["request_id"]: r for r in read_rows(str(tmp_path / "routes.db"))}
    for col in ("candidates", "rules_matched", "skipped", "attempt_log"):
        assert got["deferred"][col] == got["eager"][col], col
    assert got["deferred"]["attempt_log"][1]["check"] == "passed"

