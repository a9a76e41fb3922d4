"""`routecar logs / stats / explain` through the installed entry point, against the file a
running sidecar writes."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.observe_e2e.conftest import (
    ROUTECAR, SECRETS, Observed, chat, cli_env, obs_yaml, run_cli, secret_env,
)
from tests.processes import async_child

# The product promise: a row shows in `logs -f` within a second of the answer (flush 50 ms
# in these configs, poll 200 ms by default).
FOLLOW_WITHIN_S = 1.0
START_BOUND_S = 10.0


async def _read_until(stream: asyncio.StreamReader, request_id: str) -> dict:
    while True:  # bounded by the caller's wait_for; EOF ends it too
        line = await stream.readline()
        if not line:
            raise AssertionError(f"logs -f ended before {request_id} showed up")
        row = orjson.loads(line)
        if row["request_id"] == request_id:
            return row


async def test_logs_follow_shows_a_new_row_within_a_second(observed: Observed) -> None:
    await observed.rows()
    async with async_child(ROUTECAR, "logs", "--db", observed.db, "-f", "--json", stdout=asyncio.subprocess.PIPE,
                           stderr=asyncio.subprocess.PIPE, env=cli_env()) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        # The first screen holds the newest rows; once it is out, the follower is polling.
        first = await asyncio.wait_for(_read_until(proc.stdout, "obs-echo_401_opaque"), START_BOUND_S)
        assert first["outcome"] == "bad_request"
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http:
            async with http.post(observed.sidecar.data_url + "/v1/chat/completions", json=chat("backup"),
                                 headers={"x-routecar-request-id": "obs-follow"}) as resp:
                assert resp.status == 200
                await resp.read()
        answered = loop.time()
        row = await asyncio.wait_for(_read_until(proc.stdout, "obs-follow"), FOLLOW_WITHIN_S)
        assert loop.time() - answered < FOLLOW_WITHIN_S
        assert (row["outcome"], row["provider"], row["chosen_model"]) == ("ok", "good", "backup")
        assert isinstance(row["attempt_log"], list) and isinstance(row["tags"], dict)
        # What an SRE's Ctrl-C does. Bounded: if the follower ignored it, teardown kills it.
        proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(proc.communicate(), START_BOUND_S)
    assert proc.returncode == 0
    assert b"Traceback" not in err


def charged_provider(row: dict) -> str:
    """The answering provider, else the one whose attempt failed last, else none."""
    if row["provider"]:
        return row["provider"]
    return row["attempt_log"][-1]["provider"] if row["attempt_log"] else "(none)"


async def test_stats_by_provider_matches_the_rows(observed: Observed) -> None:
    rows = list((await observed.rows()).values())
    code, out, err = await run_cli("stats", "--db", observed.db, "--by", "provider", "--json")
    assert code == 0, err
    doc = orjson.loads(out)
    groups = {g["group"]: g for g in doc["groups"]}
    requests = Counter(charged_provider(r) for r in rows)
    assert {g: s["requests"] for g, s in groups.items()} == dict(requests)
    assert groups["bad"]["errors"] == 2  # the 502 and the 401 count against the provider that failed
    for name, g in groups.items():
        mine = [r for r in rows if charged_provider(r) == name]
        assert g["errors"] == sum(r["outcome"] != "ok" for r in mine), name
        assert g["fallbacks"] == sum(r["fallback"] for r in mine), name
        assert g["cost_usd"] == pytest.approx(sum(r["cost_usd"] or 0 for r in mine)), name
        assert g["prompt_tokens"] == sum(r["prompt_tokens"] or 0 for r in mine), name
    assert doc["total"]["requests"] == len(rows)

    code, out, err = await run_cli("stats", "--db", observed.db, "--by", "provider")
    assert code == 0, err
    assert "good" in out and "TOTAL" in out and "(none)" in out


async def test_explain_shows_attempts_and_skipped(observed: Observed) -> None:
    await observed.rows()
    code, out, err = await run_cli("explain", "--db", observed.db, "obs-failover")
    assert code == 0, err
    assert "attempts (2)" in out
    assert "up-bad" in out and "http_5xx" in out and "up-good" in out
    assert "served by" in out and "backup via good" in out

    code, out, err = await run_cli("explain", "--db", observed.db, "obs-skipped")
    assert code == 0, err
    skipped = out.split("skipped", 1)[1].split("shadow choice", 1)[0]
    assert "bad/up-bad" in skipped and "circuit_open" in skipped

    code, out, err = await run_cli("explain", "--db", observed.db, "obs-echo_401")
    assert code == 0, err
    assert "http_401" in out and "REDACTED" in out
    for secret in SECRETS:
        assert secret not in out

    code, out, err = await run_cli("explain", "--db", observed.db, "obs-nope")
    assert code == 1 and "no request" in err


async def test_db_defaults_to_the_configs_route_log(observed: Observed, tmp_path: Path) -> None:
    await observed.rows()
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(obs_yaml(observed.bad.openai_base, observed.good.openai_base))
    env = cli_env(**secret_env(tmp_path))

    code, out, err = await run_cli("logs", "-c", str(cfg), "--json", "--errors", "--where", "tags.kind!=cancelled",
                                   "status>=500", env=env)
    assert code == 0, err
    assert [orjson.loads(line)["request_id"] for line in out.splitlines()] == ["obs-upstream_502"]

    code, out, err = await run_cli("stats", "--json", env={**env, "ROUTECAR_CONFIG": str(cfg)})
    assert code == 0, err
    assert orjson.loads(out)["total"]["requests"] == len(await observed.rows())

    code, out, err = await run_cli("explain", "-c", str(cfg), "obs-ok", env=env)
    assert code == 0 and "obs-ok" in out, err

    code, out, err = await run_cli("logs", "-c", str(tmp_path / "missing.yaml"), env=env)
    assert code == 1 and "no --db given" in err
