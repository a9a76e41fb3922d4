"""The health the replayed router sees is rebuilt from the log, in time order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from routecar.config.loader import parse_config
from routecar.replay.engine import Replayer
from routecar.replay.health import health_kind
from routecar.replay.inputs import routing_request
from routecar.replay.rows import stream_rows
from routecar.routelog.record import RouteRecord
from tests.routelog.builders import attempt, write_rows

CONFIG = """
providers:
  pa: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-test-a'}
  pb: {type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: 'sk-test-b'}
models:
  a: {price: {input: 1.0, output: 2.0}, deployments: [{provider: pa, model: up-a}]}
  b: {price: {input: 1.0, output: 2.0}, deployments: [{provider: pb, model: up-b}]}
routes:
  r: {strategy: ordered, candidates: [a, b]}
resilience:
  circuit_breaker: {window: 30s, min_requests: 100, failure_rate: 0.9, consecutive_failures: 3, open_for: 20s,
                    half_open_probes: 1}
  health_check: {enabled: false}
route_log: {path: ':memory:'}
"""
T0 = 1_800_000_000.0


def row(ts: float, first: str, attempts: list[dict], i: int) -> RouteRecord:
    last = attempts[-1]
    return RouteRecord(
        ts, f"req-{i}", "chat", requested_model="r", route="r", strategy="ordered", chosen_model=last["slug"],
        provider=last["provider"], status=200, attempts=len(attempts), attempt_log=attempts,
        prompt_tokens=10, completion_tokens=5, cost_usd=20e-6,
        candidates=[{"slug": first}], est_prompt_tokens=10, est_output_tokens=5, has_tools=False,
        has_images=False, json_mode=False, json_schema=False)


def failover(ts: float, i: int) -> RouteRecord:
    return row(ts, "a", [attempt("pa", "up-a", "a", 503, "http_5xx", 40.0),
                         attempt("pb", "up-b", "b", 200, None, 30.0)], i)


def test_a_failing_deployment_is_seen_failing_at_its_time(tmp_path: Path):
    config = parse_config(CONFIG)
    db = str(tmp_path / "r.db")
    # Three failovers off `a` trip its breaker; while it is open the live router planned `b`
    # first; once open_for has passed it planned `a` again and `a` answered.
    records = [failover(T0 + i, i) for i in range(3)]
    records += [row(T0 + 5 + i, "b", [attempt("pb", "up-b", "b", 200, None, 30.0)], 10 + i) for i in range(3)]
    records += [row(T0 + 40 + i, "a", [attempt("pa", "up-a", "a", 200, None, 30.0)], 20 + i) for i in range(3)]
    write_rows(db, records)
    conn = sqlite3.connect(db)
    replayer = Replayer(config)
    rows = list(stream_rows(conn))
    for r in rows[:3]:
        replayer.replay_row(r)
    replayer.health.at(T0 + 5)
    assert replayer.health.registry.view("pa/up-a").state == "open"
    req = routing_request(rows[3], replayer.needs)
    assert not isinstance(req, str) and replayer.router.plan(req).candidates[0].slug == "b"
    for r in rows[3:]:
        replayer.replay_row(r)
    report = replayer.report.as_dict()["by_route"]["r"]
    # The replay saw what the live router saw: `b` while `a` was open, `a` again after.
    assert report["changed"] == 0
    assert report["models"]["replayed"] == {"a": 6, "b": 3}
    assert replayer.health.registry.view("pa/up-a").state == "closed"
    conn.close()


def test_without_the_failures_the_router_keeps_a(tmp_path: Path):
    """The same rows with `a`'s failures dropped from the log: nothing opens, `b` rows change."""
    config = parse_config(CONFIG)
    db = str(tmp_path / "r.db")
    records = [row(T0 + i, "a", [attempt("pa", "up-a", "a", 200, None, 30.0)], i) for i in range(3)]
    records += [row(T0 + 5 + i, "b", [attempt("pb", "up-b", "b", 200, None, 30.0)], 10 + i) for i in range(3)]
    write_rows(db, records)
    conn = sqlite3.connect(db)
    replayer = Replayer(config)
    report = replayer.run(conn).as_dict()
    assert report["changed"] == 3 and report["by_route"]["r"]["models"]["replayed"] == {"a": 6}
    conn.close()


def test_health_kinds_follow_the_dispatcher():
    assert health_kind(None, 200) == "success"
    assert health_kind("http_429", 429) == "rate_limited"
    assert health_kind("http_5xx", 529) == "overloaded"
    assert health_kind("http_400", 400) == "neutral"
    assert health_kind("http_5xx", 500) == "failure"
    assert health_kind("timeout", None) == "failure"
