"""The admin plane after real traffic: /metrics scrapes cleanly and agrees with the route log;
/state and `routecar state` show the live health of every deployment."""

from __future__ import annotations

import socket
from collections import Counter
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.observe_e2e.conftest import DEPLOYMENTS, SECRETS, Observed, cli_env, run_cli

OPEN = {"bad/up-bad", "bad/up-doomed"}  # tripped by the failover and the 502


async def get(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)], from the official parser (it raises on bad syntax)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("routecar_"), family.name
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def total(series: list[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in series if all(labels.get(k) == want for k, want in match.items()))


async def test_metrics_scrape_agrees_with_the_route_log(observed: Observed) -> None:
    rows = list((await observed.rows()).values())
    status, ctype, body = await get(observed.sidecar.admin_url + "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    text = body.decode()
    m = samples(text)

    by_outcome = Counter(r["outcome"] for r in rows)
    for outcome, n in by_outcome.items():
        assert total(m["routecar_requests_total"], outcome=outcome) == n, outcome
    assert total(m["routecar_requests_total"]) == len(rows)
    assert total(m["routecar_requests_total"], outcome="bad_request", status="404") == 1
    assert total(m["routecar_request_duration_seconds_count"]) == len(rows)
    assert total(m["routecar_overhead_seconds_count"]) == len(rows)
    assert total(m["routecar_ttft_seconds_count"]) == sum(1 for r in rows if r["ttft_ms"] is not None)

    assert total(m["routecar_cost_usd_total"]) == pytest.approx(sum(r["cost_usd"] or 0 for r in rows))
    assert total(m["routecar_tokens_total"], direction="prompt") == sum(r["prompt_tokens"] or 0 for r in rows
                                                                       if r["cost_usd"])
    assert total(m["routecar_attempts_total"], outcome="http_5xx") == 2
    assert total(m["routecar_attempts_total"], outcome="http_401") == 2
    assert total(m["routecar_fallbacks_total"]) == sum(r["fallback"] for r in rows)

    circuit = {labels["deployment"]: v for labels, v in m["routecar_circuit_state"]}
    assert circuit == {d: (2.0 if d in OPEN else 0.0) for d in DEPLOYMENTS}
    assert {labels["deployment"] for labels, _ in m["routecar_in_flight"]} == set(DEPLOYMENTS)

    assert m["routecar_route_log_queue_depth"] == [({}, 0.0)]
    assert m["routecar_route_log_dropped_total"] == [({}, 0.0)]
    assert m["routecar_route_log_written_total"] == [({}, float(len(rows)))]
    assert m["routecar_config_info"] == [({"hash": observed.hash}, 1.0)]
    assert total(m["routecar_config_reloads_total"]) == 0

    for secret in SECRETS:
        assert secret not in text


async def test_state_json_shows_every_deployment(observed: Observed) -> None:
    await observed.rows()
    status, ctype, body = await get(observed.sidecar.admin_url + "/state")
    assert status == 200 and ctype.startswith("application/json")
    state = orjson.loads(body)
    deployments = state["deployments"]
    assert set(deployments) == set(DEPLOYMENTS)
    assert {d: v["state"] for d, v in deployments.items()} == {
        d: ("open" if d in OPEN else "closed") for d in DEPLOYMENTS}
    assert deployments["good/up-good"]["latency_ms"]["p50"] is not None
    assert deployments["good/up-good"]["in_flight"] == 0
    assert state["config_hash"] == observed.hash
    assert state["draining"] is False
    assert state["route_log"]["written"] == len(await observed.rows())
    for secret in SECRETS:
        assert secret.encode() not in body


def _state_keys(state: dict[str, Any]) -> tuple[set[str], str]:
    return set(state["deployments"]), state["config_hash"]


async def test_routecar_state_command(observed: Observed) -> None:
    await observed.rows()
    admin = observed.sidecar.admin_url

    code, out, err = await run_cli("state", "--admin", admin, "--json")
    assert code == 0, err
    assert _state_keys(orjson.loads(out)) == (set(DEPLOYMENTS), observed.hash)

    code, out, err = await run_cli("state", "--admin", admin)
    assert code == 0, err
    for dep in DEPLOYMENTS:
        assert dep in out
    assert "open" in out and "closed" in out and observed.hash in out
    for secret in SECRETS:
        assert secret not in out + err

    # An 80-column terminal: every deployment's name whole on its block's title line.
    code, out, err = await run_cli("state", "--admin", admin, env=cli_env(COLUMNS="80"))
    assert code == 0, err
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    for dep in DEPLOYMENTS:
        assert any(line.startswith(dep + "  ") for line in lines), dep
    assert "last check" in out and "{" not in out


async def test_routecar_state_without_a_sidecar_fails_cleanly() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = await run_cli("state", "--admin", f"http://127.0.0.1:{port}")
    assert code == 1 and out == ""
    assert "cannot read" in err and "Traceback" not in err
