"""`routecar state`: /state laid out for people at 80 and 160 columns (rich's console width)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console

from routecar.state_view import print_state

LONG = "azure-eastus2-production/claude-3-5-sonnet-20241022-v2"


def deployment(**over: Any) -> dict[str, Any]:
    """A deployment as HealthRegistry.snapshot() gives it."""
    base: dict[str, Any] = {
        "provider": "primary", "model": "gpt-4o-mini-2024-07-18", "state": "closed", "open_until": None,
        "trips": 0, "consecutive_failures": 0, "window_requests": 12, "window_failures": 0, "error_rate": 0.0,
        "probes_in_flight": 0, "cooldown_s": 0.0, "consecutive_429": 0,
        "headroom": {"remaining_requests": None, "limit_requests": None, "reset_requests_s": None,
                     "remaining_tokens": None, "limit_tokens": None, "reset_tokens_s": None, "fraction": None,
                     "client": {"rpm": None, "tpm": None, "requests_last_60s": 0, "tokens_last_60s": 0}},
        "in_flight": 0, "latency_ms": {"p50": 0.23, "p95": 0.52, "p99": 0.67},
        "ttft_ms": {"p50": None, "p95": None, "p99": None}, "samples": 12, "ttft_samples": 0,
        "base_weight": 1.0, "effective_weight": 1.0, "health_check": None,
    }
    base.update(over)
    return base


def state(**extra: Any) -> dict[str, Any]:
    """A /state body as the admin plane serves it (server/admin.py), one of each case."""
    opened = deployment(
        state="open", open_until=29.9, trips=2, consecutive_failures=5, window_requests=5, window_failures=5,
        error_rate=1.0, cooldown_s=12.5, consecutive_429=3, effective_weight=0.0, base_weight=3.0, samples=0,
        latency_ms={"p50": None, "p95": None, "p99": None},
        headroom={"remaining_requests": 120, "limit_requests": 1000, "reset_requests_s": 3.2,
                  "remaining_tokens": 4000, "limit_tokens": 10000, "reset_tokens_s": None, "fraction": 0.12},
        health_check={"at": 1764900000.5, "age_s": 2.3, "ok": False, "reason": "connect: connection refused"})
    body: dict[str, Any] = {
        "deployments": {"primary/gpt-4o-mini-2024-07-18": opened,
                        "backup/claude-3-5-haiku-latest": deployment(provider="backup"),
                        LONG: deployment(provider="azure-eastus2-production", state="half_open", probes_in_flight=1,
                                         health_check={"at": 1764900000.5, "age_s": 0.4, "ok": True,
                                                       "reason": None})},
        "providers": {"primary": {"in_flight": 0, "max_connections": 100, "rpm": None, "tpm": None,
                                  "requests_last_60s": 0, "tokens_last_60s": 0},
                      "azure-eastus2-production": {"in_flight": 2, "max_connections": 100, "rpm": 600,
                                                   "tpm": 100000, "requests_last_60s": 12, "tokens_last_60s": 156}},
        "retry_budget": {"ratio": 0.2, "min_per_second": 5.0, "window_s": 10.0, "requests": 12, "retries": 5,
                         "allowed": 50.0},
        "config_hash": "7029a9e0cdfe", "draining": False, "in_flight_requests": 2,
        "route_log": {"queue_depth": 12, "dropped": 0, "written": 340},
        "canary": {"support": {"model": "claude-3-5-haiku-latest", "percent": 5.0, "canary_samples": 4,
                               "baseline_samples": 96, "disabled": None},
                   "search": {"model": "new-model", "percent": 50.0, "canary_samples": 30, "baseline_samples": 30,
                              "disabled": "error rate 40% over the baseline's 2%"}},
        "budgets": {"support": {"period": "day", "limit_usd": 50.0, "when_exceeded": "downgrade",
                                "downgrade_to": "cheap", "resets_at": "2026-12-05T00:00:00Z",
                                "spent_usd": {"support/day": 41.5, "support/day/team=billing": 12.25}}},
        "budget_ledger": {"path": "/var/lib/routecar/routes.db", "unflushed_keys": 1},
    }
    body.update(extra)
    return body


def flat(text: str) -> str:
    """Text as one line: what a test reads must not depend on where rich wrapped it."""
    return " ".join(text.split())


def draw(body: dict[str, Any], width: int) -> list[str]:
    buf = io.StringIO()
    print_state(body, Console(file=buf, width=width, no_color=True, highlight=False))
    return [line.rstrip() for line in buf.getvalue().splitlines()]


@pytest.mark.parametrize("width", [80, 160])
def test_fits_the_width_and_keeps_every_name_whole(width: int) -> None:
    lines = draw(state(), width)
    assert max(len(line) for line in lines) <= width
    for name in ("primary/gpt-4o-mini-2024-07-18", "backup/claude-3-5-haiku-latest", LONG):
        # The title line of its block, the name whole: never cut to `clau…`.
        assert any(line.startswith(name + "  ") for line in lines), name
    text = "\n".join(lines)
    assert "…" not in text and "None" not in text
    assert "azure-eastus2-production" in text and "claude-3-5-haiku-latest" in text


def test_each_deployment_shows_circuit_cooldown_headroom_and_its_last_health_check() -> None:
    text = "\n".join(draw(state(), 80))
    block = flat(text.split("primary/gpt-4o-mini-2024-07-18")[1].split("\n\n")[0])
    assert "OPEN" in block and "open for 29.9s more" in block and "5 of 5 failed" in block
    assert "12.5s left" in block and "3 429s in a row" in block
    assert "120 of 1000 requests left (resets in 3.2s)" in block and "4000 of 10000 tokens left" in block
    assert "weight 0 of 3" in block
    assert "failed 2.3s ago" in block and "connect: connection refused" in block
    healthy = flat(text.split(LONG)[1].split("\n\n")[0])
    assert "HALF OPEN" in healthy and "ok 0.4s ago" in healthy and "1 probe(s) in flight" in healthy
    assert "none yet" in text.split("backup/claude-3-5-haiku-latest")[1].split("\n\n")[0]


def test_canary_and_budgets_are_tables_not_json() -> None:
    lines = draw(state(), 80)
    text = "\n".join(lines)
    assert "{" not in text and '"' not in text
    canary = text.partition("\ncanary ")[2].partition("\nbudgets ")[0]
    row = next(line for line in canary.splitlines() if line.startswith("support"))
    assert row.split() == ["support", "claude-3-5-haiku-latest", "5%", "4", "/", "96", "active"]
    assert "disabled" in next(line for line in canary.splitlines() if line.startswith("search"))
    assert "error rate 40% over the baseline's 2%" in flat(canary)
    budgets = text.partition("\nbudgets ")[2]
    whole = next(line for line in budgets.splitlines() if "whole route" in line)
    assert whole.split() == ["support", "whole", "route", "$41.50", "$50/day", "83.0%", "downgrade", "→", "cheap",
                             "Dec", "05", "00:00Z"]
    assert "team=billing" in budgets and "$12.25" in budgets


def test_no_canary_or_budget_says_so() -> None:
    text = "\n".join(draw(state(canary={}, budgets={}), 80))
    assert "no route has a canary" in text and "no route has a budget" in text


@pytest.mark.parametrize("width", [80, 160])
def test_an_unknown_section_is_drawn_from_its_shape(width: int) -> None:
    shared = {"backend": "redis", "available": True, "url": "redis://127.0.0.1:6379/0", "last_error": None,
              "budget_spend": {"support/day": {"local_usd": 0.1, "fleet_usd": 2.5, "synced_s_ago": 1.2}}}
    lines = draw(state(shared_state=shared, hedges=[{"route": "r", "fired": 3, "won": 1}]), width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    assert "shared state" in text and "{" not in text and "None" not in text and "True" not in text
    after = text.partition("shared state")[2]
    assert "available   yes" in after and "last error  -" in after
    spend = next(line for line in after.splitlines() if line.startswith("support/day"))
    assert spend.split() == ["support/day", "2.5", "0.1", "1.2"]  # a table: fleet, local, synced
    assert next(line for line in after.splitlines() if line.startswith("3 ")).split() == ["3", "r", "1"]


def test_draining_is_in_the_headline() -> None:
    assert "DRAINING" in draw(state(draining=True), 80)[0]
    assert "serving" in draw(state(), 80)[0]


def test_json_of_a_live_state_round_trips_through_the_renderer() -> None:
    """Whatever /state holds, the renderer does not choke on it (types as JSON gives them)."""
    body = json.loads(json.dumps(state(extra_number=1.5, extra_list=[1, "a", None])))
    text = "\n".join(draw(body, 80))
    assert "extra number" in text and "1.5" in text and "1, a, -" in text
