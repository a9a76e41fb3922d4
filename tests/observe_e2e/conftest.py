"""One sidecar, two fake upstreams and a request of every kind, shared by the end-to-end
observability tests (route log rows, metrics, /state, secrets, the SRE commands).

Every request carries `x-routecar-request-id: obs-<kind>` and `x-routecar-tags: team=obs,kind=<kind>`
so a test can find its row and check attribution without guessing generated ids.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp
import pytest

from routecar.fake.server import FakeProvider
from routecar.server.app import Sidecar
from tests.helpers import read_rows
from tests.processes import async_child

# Two planted keys: one shaped like an OpenAI key (caught by pattern too), one opaque that only
# the registered-secret path can catch. Both must appear nowhere the sidecar writes.
KEY = "sk-PLANTED-abc123XYZ"
OPAQUE = "opaque-PLANTED-Zq81w7Lm"
SECRETS = (KEY, OPAQUE)

PRICES = {"primary": (1.0, 2.0), "backup": (3.0, 5.0), "solo": (1.0, 2.0), "doomed": (1.0, 2.0),
          "slow": (3.0, 5.0), "solo2": (3.0, 5.0), "embed": (0.02, 0.0)}
DEPLOYMENTS = ("bad/up-bad", "good/up-good", "bad/up-solo", "bad/up-doomed", "good/up-slow",
               "good/up-solo2", "good/emb-up")
ROUTECAR = str(Path(sys.executable).with_name("routecar"))

TIMEOUTS = "{connect: 1s, first_token: 3s, idle: 3s, total: 10s}"


def obs_yaml(bad_url: str, good_url: str, *, extra: str = "") -> str:
    """`primary` fails over to `backup`; `solo`/`solo2` get a 401 echoing the key; `doomed` 503s;
    `slow` streams slowly (for the cancelled request). Breakers trip on the first failure so the
    next request shows a skipped deployment."""
    return f"""
providers:
  bad: {{type: openai, base_url: '{bad_url}', api_key: '${{KEY}}', timeouts: {TIMEOUTS}}}
  good: {{type: openai, base_url: '{good_url}', api_key_file: '${{KEYFILE}}', timeouts: {TIMEOUTS}}}
models:
  primary:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: bad, model: up-bad}}]
    fallbacks: [backup]
  backup:
    price: {{input: 3.0, output: 5.0}}
    deployments: [{{provider: good, model: up-good}}]
  solo:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: bad, model: up-solo}}]
  doomed:
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: bad, model: up-doomed}}]
  slow:
    price: {{input: 3.0, output: 5.0}}
    deployments: [{{provider: good, model: up-slow}}]
  solo2:
    price: {{input: 3.0, output: 5.0}}
    deployments: [{{provider: good, model: up-solo2}}]
  embed:
    capabilities: [embeddings]
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: good, model: emb-up}}]
routes:
  chat: {{strategy: ordered, candidates: [backup]}}
resilience:
  circuit_breaker: {{min_requests: 1, consecutive_failures: 1, failure_rate: 0.5, open_for: 60s}}
server:
  max_body_bytes: 4096
{extra}
route_log:
  path: "${{DB}}"
  flush_interval: 50ms
"""


BAD_FAULTS = [
    {"status": 500, "models": ["up-bad"]},
    {"status": 401, "models": ["up-solo"], "message": f"Incorrect API key provided: {KEY}"},
    {"status": 503, "models": ["up-doomed"]},
]
GOOD_FAULTS = [
    {"chunk_delay_ms": 100, "models": ["up-slow"]},
    {"status": 401, "models": ["up-solo2"], "message": f"Incorrect API key provided: {OPAQUE}"},
]


def chat(model: str, **kw: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **kw}


# kind -> (path, body (bytes = raw), expected status, outcome, attempts, stream)
# The cancelled stream goes first: by the time the rest is answered, the fake has noticed the
# hang-up and finished, so no test's teardown waits on its open handler.
TRAFFIC: dict[str, tuple[str, Any, int, str, int, bool]] = {
    "cancelled": ("/v1/chat/completions", chat("slow", stream=True), 499, "client_cancelled", 1, True),
    "ok": ("/v1/chat/completions", chat("backup"), 200, "ok", 1, False),
    "stream_usage": ("/v1/chat/completions", chat("chat", stream=True, stream_options={"include_usage": True}),
                     200, "ok", 1, True),
    "stream": ("/v1/chat/completions", chat("chat", stream=True), 200, "ok", 1, True),
    "embeddings": ("/v1/embeddings", {"model": "embed", "input": "hello"}, 200, "ok", 1, False),
    "messages": ("/v1/messages", {"model": "backup", "max_tokens": 50,
                                  "messages": [{"role": "user", "content": "hello there"}]}, 200, "ok", 1, False),
    "failover": ("/v1/chat/completions", chat("primary"), 200, "ok", 2, False),
    "skipped": ("/v1/chat/completions", chat("primary"), 200, "ok", 1, False),
    "bad_json": ("/v1/chat/completions", b"{not json", 400, "bad_request", 0, False),
    "unknown_model": ("/v1/chat/completions", chat("no-such-model"), 404, "bad_request", 0, False),
    "too_large": ("/v1/chat/completions", chat("backup", messages=[{"role": "user", "content": "x" * 5000}]),
                  413, "bad_request", 0, False),
    "upstream_502": ("/v1/chat/completions", chat("doomed"), 502, "upstream_error", 1, False),
    "echo_401": ("/v1/chat/completions", chat("solo"), 401, "bad_request", 1, False),
    "echo_401_opaque": ("/v1/chat/completions", chat("solo2"), 401, "bad_request", 1, False),
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Observed:
    sidecar: Sidecar
    bad: FakeProvider
    good: FakeProvider
    db: str
    answers: dict[str, Answer] = field(default_factory=dict)

    @property
    def hash(self) -> str:
        assert self.sidecar.runtime is not None
        return self.sidecar.runtime.generation.config.hash

    async def rows(self) -> dict[str, dict[str, Any]]:
        """Every row once the whole traffic mix has landed, by request id."""
        assert self.sidecar.runtime is not None
        for _ in range(200):  # bounded: the cancelled request's row lands when its handler unwinds
            await self.sidecar.runtime.writer.flush()
            rows = read_rows(self.db)
            if len(rows) >= len(TRAFFIC):
                return {r["request_id"]: r for r in rows}
            await asyncio.sleep(0.02)
        raise AssertionError(f"expected {len(TRAFFIC)} rows, found {len(read_rows(self.db))}")


def headers_for(kind: str) -> dict[str, str]:
    return {"x-routecar-request-id": f"obs-{kind}", "x-routecar-tags": f"team=obs,kind={kind}",
            "anthropic-version": "2023-06-01"}


async def send(http: aiohttp.ClientSession, base: str, kind: str) -> Answer:
    path, body, *_ = TRAFFIC[kind]
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    async with http.post(base + path, headers=headers_for(kind), **kwargs) as resp:
        if kind == "cancelled":
            first = await resp.content.readany()  # the first chunk has arrived: hang up mid-stream
            resp.close()
            return Answer(resp.status, dict(resp.headers), first)
        return Answer(resp.status, dict(resp.headers), await resp.read())


async def drive(obs: Observed) -> Observed:
    async with aiohttp.ClientSession() as http:
        for kind in TRAFFIC:
            obs.answers[kind] = await send(http, obs.sidecar.data_url, kind)
    return obs


def secret_env(tmp_path: Path) -> dict[str, str]:
    keyfile = tmp_path / "good.key"
    keyfile.write_text(OPAQUE + "\n")
    return {"KEY": KEY, "KEYFILE": str(keyfile), "DB": str(tmp_path / "routes.db")}


@pytest.fixture
async def fakes(fake_factory: Callable[..., Awaitable[FakeProvider]]) -> tuple[FakeProvider, FakeProvider]:
    bad = await fake_factory("bad", faults=BAD_FAULTS)
    good = await fake_factory("good", chunks=4, faults=GOOD_FAULTS)
    return bad, good


@pytest.fixture
async def observed(fakes: tuple[FakeProvider, FakeProvider], sidecar_factory: Any, tmp_path: Path) -> Observed:
    """A sidecar that has answered one request of every kind in TRAFFIC, in order."""
    bad, good = fakes
    env = secret_env(tmp_path)
    sc = await sidecar_factory(obs_yaml(bad.openai_base, good.openai_base), env=env)
    return await drive(Observed(sc, bad, good, env["DB"]))


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTECAR_")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", **extra})
    return env


async def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> tuple[int, str, str]:
    """`routecar ARGS` as a real subprocess, without blocking the loop the sidecar serves on;
    killed and reaped whatever happens (a timeout, a cancelled test)."""
    async with async_child(ROUTECAR, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                           env=env or cli_env()) as proc:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
