"""The process's one Redis client: a bounded pool, every call under a deadline, availability.

`SharedStore.call` is the only way a request reaches Redis. It returns the call's result or
`UNAVAILABLE` (never raises for Redis' sake), and it bounds the whole call, the wait for a
pooled connection included, by `shared_state.redis.timeout` with `asyncio.timeout`. The
client's own read/write timeout is left unset on purpose: every call already runs under that
deadline, and redis-py would add an `asyncio.wait_for` (a task and a timer) to every send.

Availability (see `availability.py`): a call that fails to reach Redis or times out marks it
unavailable, logged once at WARNING; from then on calls return `UNAVAILABLE` at once, without
touching the network, while one background task PINGs with jittered exponential backoff and
marks it available again (logged once at INFO). A call that Redis answers with an error (a
script bug, OOM, READONLY) does not change availability, since Redis is reachable: it is
counted and its first occurrence logged at ERROR.

Connections are opened off the request path: `start()` and every reconnect open the whole pool
with one PING per connection, under a more generous bound than `timeout` (TCP, TLS and AUTH
can take longer than a call), so a request rarely pays for a handshake.

`redis` is imported when a store is built, never before: a sidecar without `shared_state`
does not load it (it costs ~150 ms of start-up and memory for nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Sequence, TypeVar

from ..config.model import SharedStateConfig
from .availability import Availability, Backoff
from .keys import KeyLayout
from .results import UNAVAILABLE, Unavailable
from .scripts import Batch, Command, LuaScript

T = TypeVar("T")
log = logging.getLogger("routecar.shared")

# Counted results of calls: answered; answered with an error; no answer in time; could not
# connect or lost the connection; not attempted (Redis known down); no pooled connection
# free in time (local congestion: Redis is not blamed for it).
CALL_RESULTS = ("ok", "error", "timeout", "failed", "skipped", "busy")
# Distinct Redis error messages logged at ERROR; repeats, and any beyond this, are only counted.
_MAX_LOGGED_ERRORS = 32


class SharedStore:
    def __init__(self, cfg: SharedStateConfig, *, clock: Callable[[], float] = time.monotonic,
                 backoff: Backoff | None = None, connect_timeout: float | None = None) -> None:
        import redis.asyncio as aioredis  # see the module docstring: only when shared_state is set
        from redis import exceptions
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        r = cfg.redis
        self.cfg = cfg
        self.timeout = r.timeout
        self.on_unavailable = cfg.on_unavailable
        self.keys = KeyLayout(r.key_prefix)
        self.display_url = r.display_url
        self._secrets = r.secrets()
        # Opening connections (TCP, TLS, AUTH) happens in the background and may take longer
        # than one call; a PING must still answer within `timeout` once they are open.
        self.connect_timeout = connect_timeout if connect_timeout is not None else max(1.0, 4 * r.timeout)
        options: dict[str, Any] = {
            "socket_connect_timeout": self.connect_timeout,
            "max_connections": r.max_connections,
            # One immediate retry on a broken connection only: a pooled socket that Redis (or a
            # NAT) closed while idle is replaced without failing the call. Timeouts are not
            # retried: the call's deadline is already spent. The rare write whose reply was lost
            # and is applied twice stays harmless: reconciles and cache stores are idempotent,
            # a reservation expires, a rate-limit slot is counted twice.
            "retry": Retry(NoBackoff(), 1, supported_errors=(exceptions.ConnectionError,)),
            "client_name": "routecar",
        }
        if r.password:
            options["password"] = r.password
        self._client = aioredis.Redis.from_url(r.url, **options)
        self._down_errors: tuple[type[BaseException], ...] = (
            exceptions.ConnectionError, exceptions.TimeoutError, OSError)
        self._redis_error: type[BaseException] = exceptions.RedisError
        self._noscript: type[BaseException] = exceptions.NoScriptError
        # At most max_connections calls hold a connection; the pool never has to refuse one.
        self._gate = asyncio.Semaphore(r.max_connections)
        self._pool_size = r.max_connections
        self._state = Availability(clock)
        self._backoff = backoff if backoff is not None else Backoff()
        self._up = asyncio.Event()
        self._up.set()
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closed = False
        self.calls: dict[str, int] = dict.fromkeys(CALL_RESULTS, 0)
        self._logged_errors: set[str] = set()
        self.last_error: str | None = None

    # -- state, for callers and metrics ----------------------------------------------------

    @property
    def available(self) -> bool:
        return self._state.up

    def unavailable_seconds(self) -> float:
        return self._state.unavailable_seconds()

    def stats(self) -> dict[str, Any]:
        """For /metrics and /state, read at scrape time without awaiting anything."""
        return {
            "redis": self.display_url,
            "available": self._state.up,
            "unavailable_seconds": round(self._state.unavailable_seconds(), 3),
            "outages": self._state.outages,
            "on_unavailable": self.on_unavailable,
            "calls": dict(self.calls),
            "last_error": self.last_error,
        }

    def register_script(self, lua: str) -> LuaScript:
        """A script to `run` or to queue on a `Batch` (see scripts.py: EVALSHA first)."""
        return LuaScript(lua)

    # -- calls --------------------------------------------------------------------------------

    async def call(self, fn: Callable[[Any], Awaitable[T]]) -> T | Unavailable:
        """`await fn(client)` under the deadline; UNAVAILABLE when Redis is down, slow or broken.

        `fn` is a factory so that nothing is even built while Redis is known to be down.
        """
        if not self._state.up:
            self.calls["skipped"] += 1
            return UNAVAILABLE
        holding = False
        try:
            async with asyncio.timeout(self.timeout):
                async with self._gate:
                    holding = True
                    result = await fn(self._client)
        except TimeoutError as exc:  # before OSError, of which it is a subclass
            if not holding:
                self.calls["busy"] += 1
                return UNAVAILABLE
            self.calls["timeout"] += 1
            self._failed(exc, f"no answer within {self.timeout * 1000:g} ms")
            return UNAVAILABLE
        except self._down_errors as exc:
            self.calls["failed"] += 1
            self._failed(exc, "cannot reach it")
            return UNAVAILABLE
        except self._redis_error as exc:
            self.calls["error"] += 1
            self._error(exc)
            return UNAVAILABLE
        self.calls["ok"] += 1
        return result

    async def run(self, script: LuaScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        """One script call: EVALSHA, with SCRIPT LOAD and a second EVALSHA only after NOSCRIPT."""
        command = script.evalsha_args(keys, args)
        noscript = self._noscript

        async def evalsha(client: Any) -> Any:
            try:
                return await client.execute_command(*command)
            except noscript:
                await client.script_load(script.lua)
                return await client.execute_command(*command)

        return await self.call(evalsha)

    async def pipeline(self, fill: Callable[[Batch], None]) -> list[Any] | Unavailable:
        """Several commands in one round trip (not a transaction): `fill(batch)` queues them.

        Results come back in order; a command Redis refused is an exception in the list. The
        commands that met NOSCRIPT are sent again, once, after their scripts are loaded."""
        batch = Batch()
        fill(batch)
        if not batch:
            return []
        noscript = self._noscript

        async def send(client: Any) -> list[Any]:
            results = await _send(client, batch.commands)
            missing = [i for i, result in enumerate(results) if isinstance(result, noscript)]
            if missing:
                scripts = {s.sha: s for i in missing if (s := batch.commands[i].script) is not None}
                for script in scripts.values():
                    await client.script_load(script.lua)
                for i, result in zip(missing, await _send(client, [batch.commands[i] for i in missing])):
                    results[i] = result
            return results

        return await self.call(send)

    async def wait_available(self, timeout: float) -> bool:
        """Whether Redis is (or becomes) available within `timeout` seconds."""
        if self._state.up:
            return True
        try:
            await asyncio.wait_for(self._up.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- availability -------------------------------------------------------------------------

    def _scrub(self, exc: BaseException) -> str:
        # redis-py's messages name host and port, not the password; scrubbed all the same.
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:300]

    def _failed(self, exc: BaseException, what: str) -> None:
        self.last_error = self._scrub(exc)
        if not self._state.fail() or self._closed:
            return
        self._up.clear()
        then = ("using this pod's own state" if self.on_unavailable == "local"
                else "answering 503 to requests that need it")
        log.warning(f"shared state unavailable: Redis {what}; {then} until it answers again",
                    extra={"redis": self.display_url, "error": self.last_error,
                           "on_unavailable": self.on_unavailable})
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect(), name="shared-reconnect")

    def _error(self, exc: BaseException) -> None:
        text = self._scrub(exc)
        self.last_error = text
        if text in self._logged_errors or len(self._logged_errors) >= _MAX_LOGGED_ERRORS:
            return
        self._logged_errors.add(text)
        log.error("shared state: Redis refused a command (further occurrences are only counted)",
                  extra={"redis": self.display_url, "error": text})

    async def _ping_all(self) -> BaseException | None:
        """Opens (or checks) every pooled connection with a PING; the first error, or None."""

        async def ping() -> None:
            async with self._gate:
                await self._client.ping()

        try:
            async with asyncio.timeout(self.connect_timeout):
                results = await asyncio.gather(*(ping() for _ in range(self._pool_size)), return_exceptions=True)
        except TimeoutError as exc:
            return exc
        # Any failure is a failed attempt, never an end to the reconnect loop.
        return next((r for r in results if isinstance(r, BaseException)), None)

    async def _reconnect(self) -> None:
        self._backoff.reset()
        while not self._closed:
            await asyncio.sleep(self._backoff.delay())
            try:
                # Sockets of the lost server are useless (and a blackholed one would only time
                # out): drop them all and open fresh ones.
                async with asyncio.timeout(self.connect_timeout):
                    await self._client.connection_pool.disconnect()
            except Exception:  # noqa: BLE001, S110 - whatever it was, the PINGs below decide
                pass
            error = await self._ping_all()
            if error is not None:
                self.last_error = self._scrub(error)
                continue
            length = self._state.recover()
            self._up.set()
            if length is not None:
                log.info("shared state available again", extra={"redis": self.display_url,
                                                                "unavailable_s": round(length, 3)})
            return

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> bool:
        """Opens the pool; True when Redis answered. When it did not, the store starts out
        unavailable (logged) and keeps trying in the background: serving never waits for it."""
        error = await self._ping_all()
        if error is None:
            return True
        self.calls["failed"] += 1
        self._failed(error, "cannot reach it at start-up")
        return False

    async def close(self) -> None:
        """Stops reconnecting and closes the pool; bounded, and safe to call twice."""
        self._closed = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=self.connect_timeout)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._client.aclose()
        except (TimeoutError, *self._down_errors, self._redis_error):
            pass


async def _send(client: Any, commands: Sequence[Command]) -> list[Any]:
    # The context manager hands the connection back to the pool whatever happens.
    async with client.pipeline(transaction=False) as pipe:
        for command in commands:
            pipe.execute_command(*command.args)
        return list(await pipe.execute(raise_on_error=False))
