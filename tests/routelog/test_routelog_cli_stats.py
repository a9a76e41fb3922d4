"""`routecar stats` against rows whose aggregates are known."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from routecar.routelog import cli_stats
from routecar.routelog.stats import percentile

from tests.routelog.builders import record, run_cli, write_rows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> str:
    now = time.time()
    path = str(tmp_path / "routes.db")
    a = [  # model a on openai: latencies 100..400, one error, one fallback, one escalation
        record(1, ts=now - 60, chosen_model="a", provider="openai", latency_ms=100.0, ttft_ms=10.0,
               prompt_tokens=10, completion_tokens=1, cost_usd=0.01, fallback=False, cache="hit",
               tags={"team": "search"}),
        record(2, ts=now - 50, chosen_model="a", provider="openai", latency_ms=200.0, ttft_ms=None,
               prompt_tokens=20, completion_tokens=2, cost_usd=0.02, fallback=True, cache="miss",
               tags={"team": "search"}),
        record(3, ts=now - 40, chosen_model="a", provider="openai", latency_ms=300.0, ttft_ms=30.0,
               prompt_tokens=30, completion_tokens=3, cost_usd=0.03, fallback=False, cache="",
               outcome="upstream_error", status=502, escalations=1, tags={"team": "ads"}),
        record(4, ts=now - 30, chosen_model="a", provider="openai", latency_ms=400.0, ttft_ms=None,
               prompt_tokens=40, completion_tokens=4, cost_usd=0.04, fallback=False, cache="",
               tags={}),
    ]
    b = [  # rejected before routing: no chosen model, so grouped by the requested one
        record(5, ts=now - 20, requested_model="b", chosen_model=None, provider=None, latency_ms=1.0,
               ttft_ms=None, prompt_tokens=None, completion_tokens=None, cost_usd=None,
               outcome="bad_request", status=400, fallback=False, cache="", tags={"team": "ads"},
               attempt_log=[]),
    ]
    old = [record(6, ts=now - 3 * 3600, chosen_model="a", latency_ms=9999.0)]  # outside 1h
    write_rows(path, a + b + old)
    return path


def stats_json(db: str, *argv: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from routecar.routelog.cli_stats import main; sys.exit(main())",
         "--db", db, "--json", *argv],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": str(REPO / "src")},
    )
    assert out.returncode == 0, out.stderr
    return orjson.loads(out.stdout)


def test_by_model_numbers(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_stats, ["--db", db, "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    groups = {g["group"]: g for g in doc["groups"]}
    a, b, total = groups["a"], groups["b"], doc["total"]
    assert a["requests"] == 4 and a["errors"] == 1 and a["error_pct"] == 25.0
    assert a["fallback_pct"] == 25.0 and a["escalation_pct"] == 25.0
    assert a["cache_hit_pct"] == 50.0  # one hit out of two lookups; rows without cache ignored
    assert a["p50_latency_ms"] == 250.0 and a["p95_latency_ms"] == pytest.approx(385.0)
    assert a["p50_ttft_ms"] == 20.0 and a["p95_ttft_ms"] == pytest.approx(29.0)
    assert a["prompt_tokens"] == 100 and a["completion_tokens"] == 10
    assert a["cost_usd"] == pytest.approx(0.10)
    assert b["requests"] == 1 and b["error_pct"] == 100.0 and b["cost_usd"] == 0.0
    assert b["p50_ttft_ms"] is None and b["cache_hit_pct"] is None
    assert total["requests"] == 5 and total["errors"] == 2 and total["error_pct"] == 40.0
    assert total["p50_latency_ms"] == 200.0
    assert [g["group"] for g in doc["groups"]] == ["a", "b"]


def test_by_provider_and_tag_and_window(db: str) -> None:
    doc = stats_json(db, "--by", "provider")
    assert {g["group"]: g["requests"] for g in doc["groups"]} == {"openai": 4, "(none)": 1}
    doc = stats_json(db, "--by", "tag:team")
    assert {g["group"]: g["requests"] for g in doc["groups"]} == {"search": 2, "ads": 2, "(none)": 1}
    doc = stats_json(db, "--since", "1d")
    assert doc["total"]["requests"] == 6 and doc["total"]["p95_latency_ms"] > 400


def test_table_output_and_errors(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_stats, ["--db", db, "--by", "route"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "by route" in out[0]
    assert out[1].split()[:3] == ["ROUTE", "REQS", "ERR%"]
    assert out[2].split()[:3] == ["fast", "5", "40.0%"]
    assert out[-1].split()[:2] == ["TOTAL", "5"] and "$0.1" in out[-1]
    assert run_cli(cli_stats, ["--db", db, "--by", "colour"]) == 2
    assert "bad --by" in capsys.readouterr().err
    assert run_cli(cli_stats, ["--db", db, "--since", "1s"]) == 0
    assert "no requests" in capsys.readouterr().out
    assert run_cli(cli_stats, ["--db", str(tmp_path / "missing.db")]) == 1


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == pytest.approx(95.05)
