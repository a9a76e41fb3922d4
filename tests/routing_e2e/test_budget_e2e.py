"""Route budgets through a running sidecar: reject, downgrade, and spend kept across a restart."""

from __future__ import annotations

import asyncio
import calendar
import re
import sqlite3
import time

import aiohttp
import pytest

from tests.helpers import route_rows
from tests.routing_e2e import chat, sidecar_yaml

MODELS = """
  pricey: {price: {input: 100, output: 100}, deployments: [{provider: pa, model: up-pricey}]}
  thrifty: {price: {input: 0.01, output: 0.01}, deployments: [{provider: pb, model: up-thrifty}]}
"""
# A request ("hi", max_tokens 5) is estimated at ~$0.0012 and costs ~$0.0006 on `pricey`.
ROUTES = """
  capped: {strategy: ordered, candidates: [pricey], budget: {period: day, usd: 0.004, when_exceeded: reject}}
  premium:
    strategy: ordered
    candidates: [pricey]
    budget: {period: day, usd: 0.004, when_exceeded: downgrade, downgrade_to: economy}
  economy: {strategy: ordered, candidates: [thrifty]}
"""
SMALL = {"max_tokens": 5}
MAX_REQUESTS = 30  # far more than any of these budgets allows


async def _config(fake_factory):
    fa, fb = await fake_factory("a"), await fake_factory("b")
    return fa, fb, sidecar_yaml({"pa": ("openai", fa.openai_base), "pb": ("openai", fb.openai_base)}, MODELS, ROUTES)


async def _until_rejected(session, sc) -> tuple[int, float, tuple]:
    served, spent = 0, 0.0
    for _ in range(MAX_REQUESTS):
        status, headers, body = await chat(session, sc, "capped", **SMALL)
        if status != 200:
            return served, spent, (status, headers, body)
        served += 1
        spent += float(headers["x-routecar-cost-usd"])
    pytest.fail("the budget never rejected")


async def _stored_spend(path: str, key: str) -> float:
    for _ in range(200):  # bounded: the ledger flushes in the background
        try:
            with sqlite3.connect(path) as db:
                row = db.execute("SELECT SUM(usd) FROM budget_ledger WHERE key = ?", (key,)).fetchone()
            if row and row[0]:
                return row[0]
        except sqlite3.OperationalError:
            pass
        await asyncio.sleep(0.05)
    return 0.0


async def test_reject_then_spend_survives_a_restart(fake_factory, sidecar_factory, tmp_path):
    fa, _, yaml_text = await _config(fake_factory)
    sc = await sidecar_factory(yaml_text)
    async with aiohttp.ClientSession() as s:
        served, spent, (status, headers, body) = await _until_rejected(s, sc)
    assert served >= 2 and spent <= 0.004
    assert status == 429 and body["error"]["code"] == "budget_exceeded"
    message = body["error"]["message"]
    assert "capped/day" in message and "resets at" in message
    reset = re.search(r"resets at (\S+)Z", message).group(1)
    midnight = calendar.timegm(time.strptime(reset, "%Y-%m-%dT%H:%M:%S"))
    assert 0 < int(headers["Retry-After"]) <= 86400
    assert abs(int(headers["Retry-After"]) - (midnight - time.time())) < 120
    assert fa.requests == served  # the rejected request never went upstream
    rows = await route_rows(sc, served + 1)
    rejected = rows[-1]
    assert rejected["outcome"] == "budget_rejected" and rejected["status"] == 429
    assert rejected["route"] == "capped" and "over budget" in rejected["reason"]
    assert rejected["attempts"] == 0 and rejected["est_cost_usd"] > 0
    assert sum(r["cost_usd"] for r in rows[:-1]) == pytest.approx(spent)
    state = sc.runtime.routing_state.state(sc.runtime.generation.config)
    assert state["budgets"]["capped"]["spent_usd"]["capped/day"] == pytest.approx(spent, rel=1e-4)

    db = str(tmp_path / "routes.db")
    await sc.close()
    assert await _stored_spend(db, "capped/day") == pytest.approx(spent)
    again = await sidecar_factory(yaml_text)  # a restart on the same file
    async with aiohttp.ClientSession() as s:
        status, _, body = await chat(s, again, "capped", **SMALL)
    assert status == 429 and body["error"]["code"] == "budget_exceeded"
    assert fa.requests == served


async def test_downgrade_to_another_route(fake_factory, sidecar_factory):
    fa, fb, yaml_text = await _config(fake_factory)
    sc = await sidecar_factory(yaml_text)
    async with aiohttp.ClientSession() as s:
        routes = []
        for _ in range(MAX_REQUESTS):
            status, headers, _ = await chat(s, sc, "premium", **SMALL)
            assert status == 200
            routes.append((headers["x-routecar-route"], headers["x-routecar-model"]))
            if routes[-1][0] == "economy" and len(routes) >= 3 and routes[-3][0] == "economy":
                break
    premium = routes.index(("economy", "thrifty"))
    assert premium >= 2 and set(routes[:premium]) == {("premium", "pricey")}
    assert set(routes[premium:]) == {("economy", "thrifty")}  # stays downgraded
    assert (fa.requests, fb.requests) == (premium, len(routes) - premium)
    rows = await route_rows(sc, len(routes))
    down = rows[premium]
    assert down["requested_model"] == "premium" and down["route"] == "economy" and down["outcome"] == "ok"
    assert "route 'premium' over budget, downgraded to 'economy'" in down["reason"]
    assert any(sk["slug"] == "pricey" and "over budget" in sk["why"] for sk in down["skipped"])


async def test_spend_survives_a_config_reload(fake_factory, sidecar_factory, tmp_path):
    fa, _, yaml_text = await _config(fake_factory)
    path = tmp_path / "sidecar.yaml"
    literal = yaml_text.replace("${DB}", str(tmp_path / "routes.db"))
    path.write_text(literal)
    sc = await sidecar_factory(yaml_text, config_path=str(path))
    async with aiohttp.ClientSession() as s:
        served, spent, (status, _, _) = await _until_rejected(s, sc)
        assert status == 429
        features = sc.runtime.routing_state
        path.write_text(literal + "\n# an edit elsewhere in the file\n")
        assert await sc.reload("test")
        status, _, body = await chat(s, sc, "capped", **SMALL)
    assert status == 429 and body["error"]["code"] == "budget_exceeded"
    assert sc.runtime.routing_state is features and fa.requests == served
