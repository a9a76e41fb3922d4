"""`routecar demo`: the product in one command, offline.

Starts three fake providers and the sidecar in this process, sends a steady stream of
requests through it, breaks the primary provider midway and heals it, and shows what the
app saw and where routecar sent each request, second by second. Stops cleanly on SIGINT or
SIGTERM, even when started as a background job (which inherits SIGINT ignored).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, TextIO

import aiohttp

from .config.loader import parse_config
from .fake.server import FakeProvider
from .server.app import Sidecar
from .stop_signals import on_stop_signals

REQUEST_TIMEOUT_S = 10.0  # no demo request may hang the summary; routecar's own deadlines are shorter
EXIT_INTERRUPTED = 130


@dataclass
class Second:
    ok: int = 0
    failed: int = 0
    providers: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    @property
    def answered(self) -> int:
        return self.ok + self.failed


class Tally:
    """What the app saw, one row per second of the demo.

    A request is counted in the second that is open when it *finishes* (its outcome is known
    only then), and a second is closed by `close()` just before its row is printed. So every
    request lands in exactly one printed row, whatever its latency, and the rows add up to the
    summary: requests still in flight when the sending stops land in a last, partial row.
    (Bucketing by when a request was sent, as this once did, left the answers that arrived
    after their second's row was printed out of every row.)
    """

    def __init__(self) -> None:
        self.closed: list[Second] = []
        self.open = Second()
        self.totals: Counter = Counter()

    def record(self, status: int | None, provider: str, latency_ms: float, failure: str = "") -> None:
        second = self.open
        if status == 200:
            second.ok += 1
            self.totals["ok"] += 1
        else:
            second.failed += 1
            self.totals[failure or f"http {status}"] += 1
        if provider:
            second.providers[provider] += 1
            self.totals[provider] += 1
        second.latencies.append(latency_ms)

    def close(self) -> Second:
        """Ends the open second (returned, for its row) and opens the next."""
        done, self.open = self.open, Second()
        self.closed.append(done)
        return done

    @property
    def answered(self) -> int:
        return sum(s.answered for s in self.closed) + self.open.answered


class Pace:
    """When to send: the wall clock, or a test's manual one (`clock` and `advance`)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter,
                 advance: Callable[[float], Any] | None = None) -> None:
        self.clock = clock
        self._advance = advance

    async def until(self, when: float, stop: asyncio.Event) -> bool:
        """Waits until `clock()` reaches `when`; True when a stop was asked meanwhile."""
        delay = max(0.0, when - self.clock())
        if self._advance is not None:
            self._advance(delay)
            await asyncio.sleep(0)  # let the requests in flight move
            return stop.is_set()
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True


async def _one_request(http: aiohttp.ClientSession, url: str, n: int, tally: Tally, pace: Pace) -> None:
    body = {"model": "fast", "messages": [{"role": "user", "content": f"demo question {n}"}],
            "stream": n % 2 == 0}
    t0 = pace.clock()
    status: int | None = None
    provider, failure = "", "client error"
    try:
        async with http.post(url, json=body, headers={"x-routecar-tags": "team=demo"}) as resp:
            await resp.read()
            status, provider, failure = resp.status, resp.headers.get("x-routecar-provider", "-"), ""
    except asyncio.CancelledError:
        failure = "cancelled"
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    finally:
        tally.record(status, provider, (pace.clock() - t0) * 1000, failure)


def _line(label: str, sec: Second, breakers: dict[str, str]) -> str:
    lat = sorted(sec.latencies)
    p50 = f"{lat[len(lat) // 2]:.0f}ms" if lat else "-"
    where = " ".join(f"{p}={c}" for p, c in sorted(sec.providers.items()))
    circ = " ".join(f"{d.split('/')[0]}:{s}" for d, s in sorted(breakers.items()))
    return f"{label:>6}  ok={sec.ok:<3} failed={sec.failed:<3} p50={p50:<6} served by [{where}]  circuits [{circ}]"


def _breakers(sidecar: Sidecar) -> dict[str, str]:
    if sidecar.runtime is None:
        return {}
    return {d: v.get("state", "?") for d, v in sidecar.runtime.health.snapshot()["deployments"].items()}


@dataclass
class Script:
    """When the outage starts and ends, in whole seconds of a `total`-second demo."""

    total: int

    @property
    def outage(self) -> tuple[int, int]:
        return int(self.total * 0.3), int(self.total * 0.7)

    @property
    def both_down(self) -> tuple[int, int]:
        return int(self.total * 0.45), int(self.total * 0.55)

    def apply(self, i: int, fakes: dict[str, FakeProvider], out: TextIO) -> None:
        (outage_at, heal_at), (both_down_at, both_heal_at) = self.outage, self.both_down
        if i == both_down_at:
            fakes["secondary"].set_faults({"status": 500})
            print(f"--- t={i}s: secondary provider DOWN too (500): fallback to claude-haiku ---", file=out, flush=True)
        if i == both_heal_at:
            fakes["secondary"].clear_faults()
            print(f"--- t={i}s: secondary provider healed ---", file=out, flush=True)
        if i == outage_at:
            fakes["primary"].set_faults({"status": 503})
            print(f"--- t={i}s: primary provider DOWN (every request answers 503) ---", file=out, flush=True)
        if i == heal_at:
            fakes["primary"].clear_faults()
            print(f"--- t={i}s: primary provider healed ---", file=out, flush=True)


async def _traffic(sidecar: Sidecar, fakes: dict[str, FakeProvider], script: Script, rps: float,
                   tally: Tally, pace: Pace, stop: asyncio.Event, out: TextIO) -> bool:
    """Sends `rps` requests a second for `script.total` seconds, printing each second's row
    as it ends and a last partial row for the answers that came after; False when stopped."""
    url = sidecar.data_url + "/v1/chat/completions"
    per_second = max(1, int(rps))
    tasks: set[asyncio.Task[Any]] = set()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    start = pace.clock()
    n = 0
    stopped = False
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            for i in range(script.total):
                script.apply(i, fakes, out)
                for k in range(per_second):
                    n += 1
                    task = asyncio.create_task(_one_request(http, url, n, tally, pace))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    if await pace.until(start + i + (k + 1) / per_second, stop):
                        stopped = True
                        break
                print(_line(f"t={i}s", tally.close(), _breakers(sidecar)), file=out, flush=True)
                if stopped:
                    break
            if tasks and not stopped:
                await asyncio.wait(tasks, timeout=REQUEST_TIMEOUT_S + 1)
        finally:
            for task in tasks:  # stopped, or past every request's own timeout: nothing to wait for
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    if tally.open.answered:
        print(_line("after", tally.close(), _breakers(sidecar)), file=out, flush=True)
    return not stopped


async def _demo(seconds: float, rps: float, pace: Pace | None = None, out: TextIO | None = None) -> int:
    pace = pace or Pace()
    out = out or sys.stdout
    stop = asyncio.Event()
    remove_handlers = on_stop_signals(asyncio.get_running_loop(), lambda signum: stop.set())
    fakes = {name: FakeProvider(name=name, chunks=6, chunk_delay_ms=5, latency_ms=20)
             for name in ("primary", "secondary", "backup")}
    sidecar: Sidecar | None = None
    try:
        for fake in fakes.values():
            await fake.start()
        db_path = os.path.join(tempfile.mkdtemp(prefix="routecar-demo-"), "routes.db")
        env = {**os.environ, "DEMO_PORT": "0", "DEMO_ADMIN_PORT": "0", "DEMO_DB": db_path,
               "PRIMARY_PORT": str(fakes["primary"].port), "SECONDARY_PORT": str(fakes["secondary"].port),
               "BACKUP_PORT": str(fakes["backup"].port)}
        text = resources.files("routecar").joinpath("data/demo.yaml").read_text()
        sidecar = Sidecar(parse_config(text, source="demo.yaml", env=env))
        await sidecar.start()
        script = Script(max(3, int(seconds)))
        (outage_at, heal_at), (both_down_at, both_heal_at) = script.outage, script.both_down
        print(f"routecar demo: sidecar on {sidecar.data_url}, fake providers primary/secondary (OpenAI) and "
              f"backup (Anthropic); {rps:g} requests/s for {script.total}s; primary breaks at t={outage_at}s and "
              f"heals at t={heal_at}s; secondary is down too from t={both_down_at}s to t={both_heal_at}s, so the "
              f"fallback model on the Anthropic backup takes over.\n", file=out, flush=True)
        tally = Tally()
        finished = await _traffic(sidecar, fakes, script, rps, tally, pace, stop, out)
    finally:
        if sidecar is not None:
            await sidecar.drain()
            await sidecar.close()
        for fake in fakes.values():
            await fake.stop()
        remove_handlers()
    ok, answered = tally.totals["ok"], tally.answered
    if not finished:
        print(f"\ndemo stopped: {ok}/{answered} requests answered 200 so far.", file=out, flush=True)
        return EXIT_INTERRUPTED
    print(f"\n{ok}/{answered} requests answered 200 while the primary was down for {heal_at - outage_at}s "
          f"(and the secondary for {both_heal_at - both_down_at}s).", file=out)
    print("served by: " + ", ".join(f"{p}={c}" for p, c in tally.totals.items() if p in fakes), file=out)
    cli = sys.argv[0] if sys.argv and sys.argv[0].endswith("routecar") else "routecar"
    print(f"route log: {db_path}\n  try: {cli} logs --db {db_path} -n 20\n"
          f"       {cli} stats --db {db_path} --by provider\n"
          f"       {cli} explain --db {db_path} <request id from logs>", file=out, flush=True)
    return 0 if ok == answered else 1


def run_demo(seconds: float = 30.0, rps: float = 20.0) -> int:
    try:
        import uvloop

        run: Callable[[Any], int] = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    try:
        return run(_demo(seconds, rps))
    except KeyboardInterrupt:  # a signal before the demo's own handlers were in place
        print("demo interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
