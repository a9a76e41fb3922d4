"""Round trips of the request-path calls against a local redis-server, in µs (p50 / p99).

    PYTHONPATH=. .venv/bin/python -m tests.shared.bench_roundtrip [N]

Each call is timed alone (sequential, uvloop), through the whole SharedStore path: deadline,
pool gate, EVALSHA, result decoding. Not a test: pytest does not collect it.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from statistics import quantiles
from typing import Any, Awaitable, Callable

from routecar.shared.results import Allowed, Reservation
from routecar.shared.state import SharedState

from .conftest import RedisServer, shared_config


async def timed(n: int, fn: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    for i in range(200):  # warm-up: connections, script cache
        await fn(i)
    samples = []
    for i in range(n):
        started = time.perf_counter_ns()
        await fn(i)
        samples.append((time.perf_counter_ns() - started) / 1000)
    cuts = quantiles(samples, n=100)
    return cuts[49], cuts[98]


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            state = SharedState(shared_config(server.url, timeout=0.05))
            await state.start()
            end = float(int(time.time()) // 86400 * 86400 + 86400)

            async def reserve(i: int) -> None:
                r = await state.budgets.reserve("bench/day", 1e-5, 1e9, end, 60)
                assert isinstance(r, Reservation)
                state.budgets.reconcile(r, 1e-5)

            async def acquire(i: int) -> None:
                assert isinstance(await state.limits.acquire("bench", 10**9, 10**12, 500), Allowed)

            async def cache_get(i: int) -> None:
                await state.cache.get("bench", b"key", 600)

            async def ping(i: int) -> None:
                assert await state.store.call(lambda c: c.ping()) is True

            state.cache.put("bench", b"key", bytes(2000), 600, 1000, 10**7)
            for name, fn in (("PING (baseline)", ping), ("reserve", reserve), ("acquire", acquire),
                             ("cache get (2 KB hit)", cache_get)):
                p50, p99 = await timed(n, fn)
                print(f"{name:22s} p50 {p50:7.0f} µs   p99 {p99:7.0f} µs   (n={n})")
            await state.close()
        finally:
            server.kill()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
