"""`routecar replay` over a route log written by a real `routecar serve` in front of fake providers."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from routecar.fake.server import FakeProvider
from tests.lifecycle.conftest import ROUTECAR, SidecarProcess

PRICES = {"premium": (5.0, 15.0), "cheap": (0.1, 0.4)}  # USD per million tokens


def config_yaml(db: Path, url_a: str, url_b: str, routes: str) -> str:
    return f"""
server: {{listen: 127.0.0.1:0, admin_listen: 127.0.0.1:0}}
providers:
  pa: {{type: openai, base_url: '{url_a}', api_key: 'sk-test-a', timeouts: {{connect: 1s, first_token: 5s, idle: 5s, total: 10s}}}}
  pb: {{type: openai, base_url: '{url_b}', api_key: 'sk-test-b', timeouts: {{connect: 1s, first_token: 5s, idle: 5s, total: 10s}}}}
models:
  premium:
    price: {{input: 5.0, output: 15.0}}
    deployments: [{{provider: pa, model: up-premium}}]
  cheap:
    price: {{input: 0.1, output: 0.4}}
    deployments: [{{provider: pb, model: up-cheap}}]
routes:
{routes}
resilience:
  health_check: {{enabled: false}}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


CURRENT_ROUTES = """
  support: {strategy: ordered, candidates: [premium, cheap]}
  mixed: {strategy: weighted, candidates: {premium: 1, cheap: 1}}
  triage:
    strategy: ordered
    candidates: [cheap]
    rules:
      - when: {tags.team: vip}
        then: {model: premium}
"""
# support moves to the cheaper model; the other routes are as they were.
CHEAPER_ROUTES = CURRENT_ROUTES.replace("candidates: [premium, cheap]}", "candidates: [cheap, premium]}")
# A rule on the prompt text, which the log does not hold: triage cannot be judged.
MATCHES_ROUTES = CURRENT_ROUTES.replace("- when: {tags.team: vip}", "- when: {matches: 'urgent'}")
# A day budget far below what support spent: NEW rejects most of it.
BUDGET_ROUTES = CURRENT_ROUTES.replace(
    "candidates: [premium, cheap]}",
    "candidates: [premium, cheap], budget: {period: day, usd: 0.003, when_exceeded: reject}}")

TRAFFIC = {"support": 90, "mixed": 60, "triage": 40}  # triage: every 4th with tag team=vip


async def _send(session: aiohttp.ClientSession, url: str, route: str, i: int) -> None:
    headers = {"x-routecar-tags": "team=vip"} if route == "triage" and i % 4 == 0 else {}
    body = {"model": route, "max_tokens": 20,
            "messages": [{"role": "user", "content": f"question {i} " + "word " * (i % 30)}]}
    async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        await resp.read()


async def _day_of_traffic(tmp: Path) -> dict[str, Any]:
    fa, fb = FakeProvider("pa"), FakeProvider("pb")
    await fa.start()
    await fb.start()
    db = tmp / "routes.db"
    cfg = tmp / "current.yaml"
    cfg.write_text(config_yaml(db, fa.openai_base, fb.openai_base, CURRENT_ROUTES))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as session:
            jobs = [(route, i) for route, n in TRAFFIC.items() for i in range(n)]
            for k in range(0, len(jobs), 20):  # 20 at a time
                await asyncio.gather(*(_send(session, sidecar.data_url, r, i) for r, i in jobs[k:k + 20]))
        sidecar.send(signal.SIGTERM)  # drains and flushes the route log
        assert await sidecar.wait() == 0, sidecar.output()
    finally:
        await sidecar.kill()
        await fa.stop()
        await fb.stop()
    return {"db": db, "current": cfg, "urls": (fa.openai_base, fb.openai_base)}


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("replay")
    return asyncio.run(_day_of_traffic(tmp))


def write_config(day: dict[str, Any], name: str, routes: str) -> Path:
    path = day["db"].parent / f"{name}.yaml"
    path.write_text(config_yaml(day["db"], *day["urls"], routes))
    return path


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ROUTECAR, "replay", *args], capture_output=True, text=True, timeout=60)


def replay_json(*args: str) -> dict[str, Any]:
    done = replay(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def logged_rows(db: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM route_log ORDER BY ts").fetchall()
    finally:
        conn.close()


def price(model: str, row: sqlite3.Row) -> float:
    inp, out = PRICES[model]
    return (row["prompt_tokens"] * inp + row["completion_tokens"] * out) / 1e6


def test_the_log_records_the_routing_inputs(day):
    rows = logged_rows(day["db"])
    assert len(rows) == sum(TRAFFIC.values())
    for row in rows:
        assert row["est_prompt_tokens"] > 0 and row["est_output_tokens"] == 20
        assert (row["has_tools"], row["has_images"], row["json_mode"], row["json_schema"]) == (0, 0, 0, 0)
    assert sum(1 for r in rows if r["route"] == "triage" and r["chosen_model"] == "premium") == 10


def test_unchanged_config_reports_no_change(day):
    report = replay_json("-c", str(day["current"]))
    assert report["requests"] == 190 and report["changed"] == 0 and report["unjudged"] == 0
    assert report["cost_usd"]["replayed"] == pytest.approx(report["cost_usd"]["logged"], rel=1e-6)
    mixed = report["by_route"]["mixed"]["models"]
    assert mixed["logged"] == mixed["replayed"]  # the weighted draws are kept, not re-drawn


def test_cheaper_route_counts_and_cost(day):
    new = write_config(day, "cheaper", CHEAPER_ROUTES)
    report = replay_json("-c", str(new), "--db", str(day["db"]))
    assert set(report) == {"requests", "changed", "cost_usd", "by_route", "unjudged"}
    support = report["by_route"]["support"]
    assert support["requests"] == 90 and support["changed"] == 90
    assert support["models"] == {"logged": {"premium": 90}, "replayed": {"cheap": 90}}
    rows = [r for r in logged_rows(day["db"]) if r["route"] == "support"]
    assert support["cost_usd"]["logged"] == pytest.approx(sum(price("premium", r) for r in rows), rel=1e-4)
    assert support["cost_usd"]["replayed"] == pytest.approx(sum(price("cheap", r) for r in rows), rel=1e-4)
    assert report["changed"] == 90  # nothing else moved
    assert report["by_route"]["mixed"]["changed"] == report["by_route"]["triage"]["changed"] == 0
    saved = support["cost_usd"]["logged"] - support["cost_usd"]["replayed"]
    assert report["cost_usd"]["logged"] - report["cost_usd"]["replayed"] == pytest.approx(saved, rel=1e-4)


def test_two_configs_take_the_db_from_the_second(day):
    new = write_config(day, "cheaper2", CHEAPER_ROUTES)
    # NEW's own route_log.path points elsewhere: the CURRENT config (second -c) names the log.
    new.write_text(new.read_text().replace(str(day["db"]), str(day["db"].parent / "elsewhere.db")))
    report = replay_json("-c", str(new), "-c", str(day["current"]))
    assert report["requests"] == 190 and report["changed"] == 90


def test_text_report(day):
    new = write_config(day, "cheaper3", CHEAPER_ROUTES)
    done = replay("-c", str(new))
    assert done.returncode == 0, done.stderr
    assert "changed 90" in done.stdout and "support: 90 requests, 90 changed" in done.stdout
    assert "premium" in done.stdout and "->" in done.stdout


def test_route_and_since_filter(day):
    new = write_config(day, "cheaper4", CHEAPER_ROUTES)
    only = replay_json("-c", str(new), "--route", "support")
    assert list(only["by_route"]) == ["support"] and only["requests"] == 90
    rows = logged_rows(day["db"])
    # --since as an ISO time between two rows: only the later ones.
    cut = rows[100]["ts"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(cut)) + f".{int(cut % 1 * 1e6):06d}"
    later = replay_json("-c", str(new), "--since", iso)
    cutoff = datetime.fromisoformat(iso).timestamp()  # what the ISO text means (microseconds cut, not rounded)
    assert later["requests"] == sum(1 for r in rows if r["ts"] >= cutoff)
    assert 0 < later["requests"] < 190
    assert replay_json("-c", str(new), "--since", "1h")["requests"] == 190


def test_matches_rule_is_unjudged(day):
    new = write_config(day, "matches", MATCHES_ROUTES)
    report = replay_json("-c", str(new))
    triage = report["by_route"]["triage"]
    assert report["unjudged"] == triage["unjudged"] == 40
    assert "matches" in next(iter(triage["unjudged_reasons"]))
    assert triage["models"] == {"logged": {}, "replayed": {}} and triage["cost_usd"]["logged"] == 0


def test_budget_rejections(day):
    new = write_config(day, "budget", BUDGET_ROUTES)
    support = replay_json("-c", str(new))["by_route"]["support"]
    assert 0 < support["rejected"]["budget"] < 90
    assert support["models"]["replayed"]["rejected:budget"] == support["rejected"]["budget"]
    assert support["changed"] == support["rejected"]["budget"]


def test_old_rows_are_unjudged(day, tmp_path):
    # A copy of the log plus rows as a build before route-log v3 wrote them (no routing inputs).
    db = tmp_path / "old.db"
    src = sqlite3.connect(day["db"])
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    cols = [c[1] for c in dst.execute("PRAGMA table_info(route_log)") if c[1] != "id"]
    old = [dict(zip(cols, r)) for r in dst.execute(f"SELECT {', '.join(cols)} FROM route_log LIMIT 7")]
    for row in old:
        row.update(request_id=row["request_id"] + "-old", est_prompt_tokens=None, est_output_tokens=None,
                   has_tools=None, has_images=None, json_mode=None, json_schema=None)
        dst.execute(f"INSERT INTO route_log ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    list(row.values()))
    dst.commit()
    dst.close()
    report = replay_json("-c", str(day["current"]), "--db", str(db))
    assert report["requests"] == 197 and report["unjudged"] == 7 and report["changed"] == 0


def test_bad_inputs_exit_2_in_one_line(day, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: [\n")
    for args in (["-c", str(bad)], ["-c", str(day["current"]), "--db", str(tmp_path / "none.db")],
                 ["-c", str(day["current"]), "--since", "yesterday-ish"]):
        done = replay(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
