"""A sidecar on a manual clock and a seeded random source, for tests that would otherwise wait
on the wall clock (open circuits, TTLs) or trust real latencies and real randomness.

The runtime is built the way `Sidecar.start` builds it, with `clock=` and `rng=` (which
`Sidecar` does not pass through yet); its data and admin servers listen on 127.0.0.1 with free
ports, and everything is closed on the way out of the `async with`, whatever happened.

Upstream latency is simulated on the same clock: `simulated_latency(fake, clock, seconds)`
makes a fake provider move the clock by `seconds[fake.name]` while it answers, so for requests
sent one at a time the dispatcher measures exactly that latency.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web

from routecar.config.loader import parse_config
from routecar.fake.server import FakeProvider
from routecar.health import ManualClock
from routecar.server.app import build_admin_server, build_data_server
from routecar.server.runtime import Runtime
from tests.conftest import loopback

SHUTDOWN_S = 0.5


@dataclass
class ClockedSidecar:
    """What tests read off a Sidecar (`runtime`, `data_url`, `admin_url`), plus its clock."""

    runtime: Runtime
    clock: ManualClock
    data_url: str
    admin_url: str


@contextlib.asynccontextmanager
async def clocked_sidecar(yaml_text: str, tmp_path: Path, *, seed: int,
                          clock: ManualClock | None = None) -> AsyncIterator[ClockedSidecar]:
    clock = clock or ManualClock()
    config = loopback(parse_config(yaml_text, source="test.yaml", env={"DB": str(tmp_path / "routes.db")}))
    # No background health checks: they would run on real time; these tests drive time by hand.
    rt = Runtime(config, clock=clock, rng=random.Random(seed), background_checks=False)
    servers: list[Any] = []
    await rt.start()
    try:
        data, admin = build_data_server(rt), build_admin_server(rt)
        servers.extend((data, admin))
        data_port = await data.listen("127.0.0.1", 0)
        admin_port = await admin.listen("127.0.0.1", 0)
        yield ClockedSidecar(rt, clock, f"http://127.0.0.1:{data_port}", f"http://127.0.0.1:{admin_port}")
    finally:
        for server in reversed(servers):
            await server.shutdown(SHUTDOWN_S)
        await rt.close()


def simulated_latency(fake: FakeProvider, clock: ManualClock, seconds: dict[str, float]) -> None:
    """Before `fake.start()`: each API request it answers advances `clock` by
    `seconds[fake.name]` (read per request, so a test can change it mid-way)."""

    @web.middleware
    async def advance(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            clock.advance(seconds[fake.name])
        return await handler(request)

    fake.app.middlewares.append(advance)
