"""The network side of active health checks: send the probes `health.checker` says are due.

`probe_provider` sends one provider's health request (its models list, built by the adapter)
through the provider's own keep-alive pool, bounded by a timeout, and answers healthy or not
with a short fixed reason; it never raises. `ActiveHealthChecks` is the background task that
runs rounds (due probes sent concurrently, results recorded) and is started, reconfigured and
stopped by the runtime. Nothing here runs on the request path.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

from ..config.model import ProviderConfig
from ..health.checker import HealthChecker, ProbeResult, ProbeTarget
from ..http1 import (ConnectError, ConnectionBroken, DeadlineExceeded, DeadlineTicker, HttpClientError, MalformedResponse,
                     Pool, PoolClosed)
from ..providers.base import Adapter
from ..providers.credentials import Credentials, NoCredentials

log = logging.getLogger("routecar.health_check")

ProbeFn = Callable[[str], Awaitable[ProbeResult]]  # provider name -> what its probe found

# How often the task looks for circuits that opened since the last look, so a provider's first
# probe is due about one interval after its trip; a look is a pass over the deployments in
# memory, microseconds.
NOTICE_EVERY = 1.0
# Never spin: the shortest sleep between two rounds.
MIN_SLEEP = 0.01


async def probe_provider(pool: Pool, adapter: Adapter, provider: ProviderConfig, timeout: float,
                         ticker: DeadlineTicker, credentials: Credentials | None = None) -> ProbeResult:
    """One health request to `provider`; healthy means a 2xx answer within `timeout`.

    Only the status is read: the response is closed without its body (a socket whose body had
    not fully arrived is dropped rather than returned to the pool half-read). Reasons are fixed
    strings, never the provider's text or an exception message, which could carry a URL or key.
    """
    deadline = ticker.deadline(ticker.loop.time() + timeout)
    try:
        req = adapter.health_request(provider)
        if credentials is not None:  # a cloud provider: signed like its requests
            credentials.apply(req)
        resp = await pool.request(req.method, req.url, req.headers, req.body, connect_timeout=timeout,
                                  deadline=deadline)
    except DeadlineExceeded:
        return ProbeResult(False, "timeout")
    except NoCredentials:
        return ProbeResult(False, "no credentials")
    except ConnectError as exc:
        return ProbeResult(False, "connect timeout" if exc.timeout else "connect failed")
    except PoolClosed:
        return ProbeResult(False, "pool closed")
    except ConnectionBroken:
        return ProbeResult(False, "connection broken")
    except MalformedResponse:
        return ProbeResult(False, "malformed response")
    except HttpClientError:
        return ProbeResult(False, "http error")
    except Exception as exc:  # e.g. a URL off the pool's origin: a bug, still never raised here
        return ProbeResult(False, f"probe error ({type(exc).__name__})")
    finally:
        deadline.cancel()
    status = resp.status
    resp.close()
    return ProbeResult(200 <= status < 300, f"HTTP {status}")


class ActiveHealthChecks:
    """Rounds of probes on a schedule kept by a `HealthChecker`.

    `probe` sends one provider's probe (the runtime binds it to the live config, pools and
    adapters); each call is bounded here by `timeout` as well, so an injected probe cannot hold
    a round. `on_result(provider, result)` is told every result (metrics). `run_round()` is
    public so tests drive rounds by hand with a manual clock instead of sleeping.
    """

    def __init__(self, checker: HealthChecker, probe: ProbeFn, timeout: float,
                 on_result: Callable[[str, ProbeResult], None] | None = None) -> None:
        self.checker = checker
        self.timeout = timeout
        self._probe = probe
        self._on_result = on_result
        self._task: asyncio.Task[Any] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def reconfigure(self, interval: float, timeout: float) -> None:
        self.checker.reconfigure(interval)
        self.timeout = timeout

    async def run_round(self) -> list[tuple[ProbeTarget, ProbeResult]]:
        """Send every probe due now, concurrently, and record what each found."""
        targets = self.checker.due()
        if not targets:
            return []
        results = await asyncio.gather(*(self._bounded(t.provider) for t in targets))
        done = []
        for target, result in zip(targets, results):
            ended = self.checker.record(target, result)
            if self._on_result is not None:
                self._on_result(target.provider, result)
            if ended:
                log.info("health check passed: open period ended, the next request probes",
                         extra={"provider": target.provider, "deployments": ended, "reason": result.reason})
            done.append((target, result))
        return done

    async def _bounded(self, provider: str) -> ProbeResult:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._probe(provider)
        except TimeoutError:
            return ProbeResult(False, "timeout")
        except Exception as exc:  # a probe must never end the round, nor the task
            return ProbeResult(False, f"probe error ({type(exc).__name__})")

    # -- the background task ------------------------------------------------------------------

    def start(self) -> None:
        """Start the background rounds (in the running loop); a no-op when running."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="routecar-health-checks")

    def stop(self) -> asyncio.Task[Any] | None:
        """Cancel the background rounds; returns the task, for the caller to await."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        return task

    async def close(self) -> None:
        task = self.stop()
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _sleep_for(self) -> float:
        wait = NOTICE_EVERY
        due = self.checker.next_due()
        if due is not None:
            wait = min(wait, due - self.checker.clock())
        return max(wait, MIN_SLEEP)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_round()
            except Exception:  # one bad round must not end active health checks for good
                log.exception("health check round failed; still checking")
            await asyncio.sleep(self._sleep_for())
