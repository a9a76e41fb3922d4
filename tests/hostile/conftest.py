"""One real `routecar serve` per module against a hostile upstream (tests/hostile/upstream.py)
and a healthy fake provider, both in the module's event loop.

Every attack is a model of its own: `deployments: [{provider: <attack>, model: up}]` with
`fallbacks: [healthy]`, the provider pointing at `/<attack>/v1` of the hostile server. Breakers
never open (thresholds of 1000), active health checks are off and the retry budget is wide, so
every request really meets its attack and a failover always has somewhere to go.

After each test (`sidecar_survives`): the sidecar is still running, printed no traceback and
no asyncio "Fatal error", answers a normal request with 200, let go of every hostile
connection, and its peak RSS (VmHWM) did not cross 128 MiB during the test.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import orjson
import pytest
import pytest_asyncio

from routecar.fake.server import FakeProvider
from tests.helpers import read_rows
from tests.hostile.upstream import ATTACKS, CONTENT, GzipBomb, HostileUpstream, gzip_bomb
from tests.lifecycle.conftest import SidecarProcess

# The budgets every attack provider gets; tests assert each fires within it plus SLACK_S.
FIRST_TOKEN_S = 1.0
IDLE_S = 1.0
TOTAL_S = 3.0
SLACK_S = 1.0
ATTACK_TIMEOUTS = f"{{connect: 1s, first_token: {FIRST_TOKEN_S}s, idle: {IDLE_S}s, total: {TOTAL_S}s}}"
# Long enough that only the request's own deadline can stop these.
DEADLINE_TIMEOUTS = "{connect: 1s, first_token: 30s, idle: 30s, total: 60s}"
HEALTHY_TIMEOUTS = "{connect: 1s, first_token: 5s, idle: 5s, total: 10s}"

RSS_LIMIT_KIB = 128 * 1024
# What must never appear in the sidecar's output: a stack trace, asyncio's transport errors.
BAD_OUTPUT = ("Traceback", "Fatal error", "RecursionError")
REQUEST_TIMEOUT_S = 15.0  # no single request of this suite may take longer, whatever the sidecar does


def sidecar_yaml(upstream: HostileUpstream, healthy_url: str, db: Path) -> str:
    providers = [f"  healthy: {{type: openai, base_url: '{healthy_url}/v1', api_key: sk-healthy, "
                 f"timeouts: {HEALTHY_TIMEOUTS}}}"]
    models = ["  healthy:\n    price: {input: 1.0, output: 2.0}\n"
              "    deployments: [{provider: healthy, model: up-healthy}]"]
    for attack in ATTACKS:
        timeouts = DEADLINE_TIMEOUTS if attack.startswith("deadline-") else ATTACK_TIMEOUTS
        providers.append(f"  {attack}: {{type: openai, base_url: '{upstream.base_url(attack)}', "
                         f"api_key: sk-{attack}, timeouts: {timeouts}}}")
        models.append(f"  {attack}:\n    price: {{input: 1.0, output: 2.0}}\n"
                      f"    deployments: [{{provider: {attack}, model: up}}]\n    fallbacks: [healthy]")
    nl = "\n"
    return f"""
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
providers:
{nl.join(providers)}
models:
{nl.join(models)}
resilience:
  retry:
    max_attempts: 3
    backoff: {{base: 0s, max: 0s}}
    budget: {{ratio: 1.0, min_per_second: 1000}}
  circuit_breaker: {{consecutive_failures: 1000, min_requests: 1000}}
  health_check: {{enabled: false}}
route_log:
  path: '{db}'
  flush_interval: 50ms
"""


@dataclass
class Answer:
    rid: str  # the request id this test sent
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float  # seconds from sending the request to the end of its answer
    # For streams: every `data:` payload and when it arrived (seconds after sending).
    events: list[tuple[float, bytes]] = field(default_factory=list)
    cut: str = ""  # the answer's body ended before its framing did (why), else empty

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def model(self) -> str | None:
        return self.headers.get("x-routecar-model")

    @property
    def done(self) -> bool:
        return any(data == b"[DONE]" for _, data in self.events)

    def parsed(self) -> list[tuple[float, dict[str, Any]]]:
        """The JSON `data:` payloads (one that is not JSON as `{"unparseable": text}`)."""
        out = []
        for t, data in self.events:
            if data != b"[DONE]":
                try:
                    out.append((t, orjson.loads(data)))
                except orjson.JSONDecodeError:
                    out.append((t, {"unparseable": data[:200].decode("latin-1")}))
        return out


@dataclass
class Hostile:
    sidecar: SidecarProcess
    upstream: HostileUpstream
    healthy: FakeProvider
    db: Path
    http: aiohttp.ClientSession
    _ids: itertools.count = field(default_factory=itertools.count)

    def rid(self, label: str) -> str:
        return f"hostile-{label}-{next(self._ids)}"

    async def chat(self, model: str, *, stream: bool = False, rid: str | None = None,
                   headers: dict[str, str] | None = None) -> Answer:
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "stream": stream}
        rid = rid or self.rid(model)
        hdrs = {"x-routecar-request-id": rid, **(headers or {})}
        return await asyncio.wait_for(self._chat(rid, body, hdrs), REQUEST_TIMEOUT_S)

    async def _chat(self, rid: str, body: dict[str, Any], headers: dict[str, str]) -> Answer:
        loop = asyncio.get_running_loop()
        start = loop.time()
        url = self.sidecar.data_url + "/v1/chat/completions"
        async with self.http.post(url, json=body, headers=headers) as resp:
            if not body["stream"] or resp.content_type != "text/event-stream":
                try:
                    return Answer(rid, resp.status, dict(resp.headers), await resp.read(), loop.time() - start)
                except aiohttp.ClientPayloadError as exc:
                    return Answer(rid, resp.status, dict(resp.headers), b"", loop.time() - start, cut=repr(exc))
            events: list[tuple[float, bytes]] = []
            lines: list[bytes] = []
            cut = ""
            try:
                async for line in resp.content:
                    lines.append(line)
                    if line.startswith(b"data:"):
                        events.append((loop.time() - start, line[5:].strip()))
            except (aiohttp.ClientPayloadError, ValueError) as exc:  # cut (a silent end), or a line over 64 KiB
                cut = repr(exc)
            return Answer(rid, resp.status, dict(resp.headers), b"".join(lines), loop.time() - start, events, cut)

    async def row(self, rid: str, timeout: float = 5.0) -> dict[str, Any] | None:
        """The route-log row of request `rid` once it has landed; None if none within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for row in self.rows():
                if row["request_id"] == rid:
                    return row
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    def rows(self) -> list[dict[str, Any]]:
        try:
            return read_rows(str(self.db))
        except sqlite3.OperationalError:
            return []  # not created yet

    def peak_rss_kib(self) -> int:
        assert self.sidecar.proc is not None
        try:
            status = Path(f"/proc/{self.sidecar.proc.pid}/status").read_text()
        except FileNotFoundError:
            raise AssertionError("the sidecar process is gone:\n" + self.sidecar.output()) from None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc/<pid>/status")

    def output_since(self, start: int) -> list[str]:
        return self.sidecar.lines[start:]


@pytest.fixture(scope="session")
def bombs() -> tuple[GzipBomb, GzipBomb]:
    """~1 MiB of gzip inflating to 1 GiB of zeros; and the same after one content event."""
    return gzip_bomb(), gzip_bomb(CONTENT)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile(bombs: tuple[GzipBomb, GzipBomb], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Hostile]:
    tmp = tmp_path_factory.mktemp("hostile")
    upstream = HostileUpstream(*bombs)
    healthy = FakeProvider(name="healthy", chunks=4)
    sidecar: SidecarProcess | None = None
    http: aiohttp.ClientSession | None = None
    try:
        await upstream.start()
        await healthy.start()
        config = tmp / "sidecar.yaml"
        config.write_text(sidecar_yaml(upstream, healthy.url, tmp / "routes.db"))
        sidecar = SidecarProcess(config)
        await sidecar.start()
        # A fresh connection per request: one hostile exchange can never leave a socket behind
        # that the next test's request would reuse.
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                     timeout=aiohttp.ClientTimeout(total=None))
        yield Hostile(sidecar, upstream, healthy, tmp / "routes.db", http)
    finally:
        if http is not None:
            await http.close()
        if sidecar is not None:
            await sidecar.kill()
        await upstream.stop()
        await healthy.stop()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def sidecar_survives(hostile: Hostile) -> AsyncIterator[None]:
    lines_before = len(hostile.sidecar.lines)
    peak_before = hostile.peak_rss_kib()
    conns_before = len(hostile.upstream.conns)
    yield
    problems: list[str] = []
    assert hostile.sidecar.proc is not None
    if hostile.sidecar.proc.returncode is not None:
        problems.append(f"the sidecar exited with {hostile.sidecar.proc.returncode}")
    else:
        try:
            normal = await hostile.chat("healthy")
            if normal.status != 200:
                problems.append(f"a normal request afterwards answered {normal.status}: {normal.body[:300]!r}")
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            problems.append(f"a normal request afterwards failed: {exc!r}")
        peak = hostile.peak_rss_kib()
        if peak_before < RSS_LIMIT_KIB <= peak:
            problems.append(f"peak RSS crossed 128 MiB during this test: {peak_before} KiB -> {peak} KiB")
    stuck = await hostile.upstream.wait_let_go(timeout=3.0)
    if stuck:
        problems.append("the sidecar kept hostile connections open: "
                        + ", ".join(f"{c.attack} (stream={c.stream}, {c.sent} bytes sent)" for c in stuck))
    errors = [c for c in hostile.upstream.conns[conns_before:] if c.how.startswith("error")]
    if errors:
        problems.append("the hostile upstream itself failed: " + ", ".join(c.how for c in errors))
    bad = [line for line in hostile.output_since(lines_before) if any(m in line for m in BAD_OUTPUT)]
    if bad:
        problems.append("the sidecar printed:\n" + "\n".join(line[-1500:] for line in bad[:5]))
    assert not problems, "\n".join(problems)
