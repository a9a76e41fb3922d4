"""The seam for credentials that change over time (cloud providers: AWS SigV4, Google tokens).

Adapters stay pure, yet a cloud request needs auth material that expires and must be fetched
from somewhere (a metadata endpoint, an STS call, a token URL) by blocking library code. So a
provider type that needs it exposes `credentials(provider)` in its module (providers/registry.py
finds it); the runtime makes one `Credentials` per such provider at start and on reload
(server/credentials.py), and the caller calls `apply()` on the wire request right before
sending it, after every other header is set (a SigV4 signature covers the final URL, headers
and body).

    start()  first fetch (bounded wait) and a background task that refreshes before expiry
    apply()  sync, no I/O: adds the auth headers from the cached value, or raises NoCredentials
    close()  stops the refresh task

The request path never fetches: a request that finds no usable credentials fails its attempt
(class `no_credentials`) and fails over, while the background task keeps trying with backoff.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable, Generic, Hashable, Protocol, TypeVar

from .base import UpstreamRequest

log = logging.getLogger("routecar.credentials")

T = TypeVar("T")

# Wait at start for the first fetch, so a sidecar that can get credentials serves its first
# request with them; past this, start() returns and the fetch goes on in the background.
FIRST_FETCH_WAIT = 10.0
# Bound on one fetch as seen from the loop (the thread itself is bounded by the library's own
# HTTP timeouts; a thread cannot be cancelled, a late result is simply kept).
FETCH_TIMEOUT = 30.0
RETRY_BASE = 1.0
RETRY_MAX = 60.0
MIN_DELAY = 1.0  # never spin, whatever delay a fetch asks for
# Error text kept for NoCredentials messages and logs: enough to diagnose, never a whole body.
MAX_ERROR_TEXT = 200


class NoCredentials(Exception):
    """No usable credentials for this provider yet (or any more): the attempt fails over."""


class Credentials(Protocol):
    # What the credentials depend on in the config: a reload keeps the live object (and its
    # cached value) when this is unchanged.
    identity: Hashable

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def apply(self, wire: UpstreamRequest) -> None:
        """Authenticate `wire` in place from the cached value; raises NoCredentials."""


class BackgroundRefresh(Generic[T]):
    """The latest value of a blocking `fetch`, run in a worker thread by one background task:
    again after the delay the fetch itself returns (before expiry), or with exponential backoff
    after a failure (the previous value is kept meanwhile: it may still be valid)."""

    def __init__(self, name: str, fetch: Callable[[], tuple[T, float]], *,
                 first_wait: float = FIRST_FETCH_WAIT, fetch_timeout: float = FETCH_TIMEOUT,
                 retry_base: float = RETRY_BASE, retry_max: float = RETRY_MAX, min_delay: float = MIN_DELAY) -> None:
        self.name = name
        self.value: T | None = None
        self.error: str | None = None  # the last fetch's failure, for messages; None once one worked
        self._fetch = fetch
        self._first_wait = first_wait
        self._fetch_timeout = fetch_timeout
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._min_delay = min_delay
        self._task: asyncio.Task[Any] | None = None
        self._first = asyncio.Event()
        # A fetch that outlived its timeout still runs in its thread: the next one waits for it
        # rather than racing it on the library's credentials object.
        self._one_at_a_time = threading.Lock()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"routecar-credentials-{self.name}")
        try:
            async with asyncio.timeout(self._first_wait):
                await self._first.wait()
        except TimeoutError:
            log.warning("credentials not fetched yet; requests fail over until they are",
                        extra={"provider": self.name})

    async def close(self) -> None:
        self._first.set()  # a start() still waiting for the first fetch returns now
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def current(self) -> T:
        if self.value is None:
            raise NoCredentials(f"no credentials for provider {self.name!r} yet"
                                + (f" ({self.error})" if self.error else ""))
        return self.value

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with asyncio.timeout(self._fetch_timeout):
                    value, delay = await asyncio.to_thread(self._fetch_alone)
            except Exception as exc:  # noqa: BLE001 - any failure is retried; never ends the task
                failures += 1
                self.error = describe(exc)
                delay = min(self._retry_max, self._retry_base * 2 ** (failures - 1))
                log.warning("credentials fetch failed; retrying",
                            extra={"provider": self.name, "error": self.error, "retry_in_s": delay})
            else:
                failures = 0
                self.value, self.error = value, None
            self._first.set()
            await asyncio.sleep(max(delay, self._min_delay))

    def _fetch_alone(self) -> tuple[T, float]:
        with self._one_at_a_time:
            return self._fetch()


def drop_headers(headers: dict[str, str], names: frozenset[str]) -> None:
    """Remove `names` (lower case) from `headers` in any spelling: credentials set the auth
    headers themselves, and a configured `Authorization` must not travel beside them."""
    for key in [k for k in headers if k.lower() in names]:
        del headers[key]


def describe(exc: BaseException) -> str:
    """An exception as a short line: its type and the start of its message (library messages
    name what failed, e.g. a file or an endpoint; secrets are never in them)."""
    text = " ".join(str(exc).split())
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
