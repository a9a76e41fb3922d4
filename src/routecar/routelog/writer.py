"""The route log writer: a bounded in-memory queue drained by one task into SQLite.

`submit` is what the request path calls: it only appends to a deque, so it never awaits and
never blocks. A single writer task turns queued records into rows (in aiosqlite's thread) and
inserts them in batches, one transaction per batch. When the queue is full, records are
dropped and counted rather than slowing requests down. `close()` drains everything queued, so
no row is lost on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from collections import deque
from typing import Callable

import aiosqlite

from routecar.config.model import RouteLogConfig
from routecar.redaction import Redactor
from routecar.routelog.errors import RouteLogError
from routecar.routelog.record import RouteRecord
from routecar.routelog.retention import RetentionPass
from routecar.routelog.rows import to_row
from routecar.routelog.schema import INSERT_SQL, configure, migrate, user_version

log = logging.getLogger("routecar.routelog")

DROP_WARN_EVERY = 10.0
RETENTION_EVERY = 60.0
# Pauses before retrying a batch that failed to write (disk full, locked file).
RETRY_DELAYS = (0.05, 0.25, 1.0)
# Page cache of the writer's connection. SQLite's default (2 MiB) fills up with pages of a
# file this connection mostly appends to, and stays resident for the life of the sidecar
# (about 2 MB of RSS after a few thousand rows); 256 KiB still holds the insert paths of the
# table and its five indexes many times over, and batch throughput is unchanged
# (benchmarks/routelog_bench.py). The CLI readers open their own connections.
WRITER_CACHE_KIB = 256


def _prepare_file(path: str) -> int:
    """Creates or migrates the file and proves it writable; returns its schema version."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        configure(conn)
        version = migrate(conn)
        # Rewriting the version is a real write: a read-only file fails here, not on the
        # first batch.
        conn.execute(f"PRAGMA user_version = {int(user_version(conn))}")
        return version
    finally:
        conn.close()


class RouteLogWriter:
    """`redactor` scrubs the upstream's words (`error_message`) as each row is built, in the
    writer's thread: the process's one Redactor, so the config's keys are caught too."""

    def __init__(
        self,
        config: RouteLogConfig,
        on_drop: Callable[[int], None] | None = None,
        *,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        retention_every: float = RETENTION_EVERY,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self._config = config
        self._on_drop = on_drop
        self._redactor = redactor
        self._clock = clock
        self._monotonic = monotonic
        self._retention_every = retention_every
        self._retry_delays = retry_delays
        self._queue: deque[RouteRecord] = deque()
        self._wake = asyncio.Event()
        self._conn: aiosqlite.Connection | None = None
        self._db_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False
        self._accepted = 0  # records taken by submit
        self._settled = 0  # records written or given up on
        self._written = 0
        self._dropped = 0
        self._write_errors = 0
        self._writable = False
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._unreported_drops = 0
        self._last_drop_warn = -math.inf
        self._retention: RetentionPass | None = None
        self._retention_due = -math.inf  # first pass right after start
        self._last_flush = 0.0  # event loop time of the last forced flush

    # --- request path -------------------------------------------------------------------

    def submit(self, record: RouteRecord) -> bool:
        """Queues one record; False (and counted as dropped) when the queue is full or closed."""
        if self._stopped or len(self._queue) >= self._config.queue_size:
            self._drop(1)
            return False
        self._queue.append(record)
        self._accepted += 1
        if len(self._queue) >= self._config.batch_size:
            self._wake.set()
        return True

    def _drop(self, n: int) -> None:
        self._dropped += n
        self._unreported_drops += n
        if self._on_drop is not None:
            try:
                self._on_drop(n)
            except Exception:  # a metrics hook must never break a request
                log.exception("route log on_drop hook failed")
        self._report_drops()

    def _report_drops(self) -> None:
        now = self._monotonic()
        if self._unreported_drops and now - self._last_drop_warn >= DROP_WARN_EVERY:
            log.warning(
                "route log: dropped %d records (queue full at %d, or write failures); %d dropped in total",
                self._unreported_drops,
                self._config.queue_size,
                self._dropped,
            )
            self._unreported_drops = 0
            self._last_drop_warn = now

    # --- state ----------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def written(self) -> int:
        return self._written

    @property
    def write_errors(self) -> int:
        return self._write_errors

    @property
    def writable(self) -> bool:
        """True while the file is open and the last write succeeded (for /readyz)."""
        return self._writable and not self._stopped

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Opens (creating or migrating) the file and starts the writer task."""
        if self._task is not None:
            return
        path = self._config.path
        conn = None
        try:
            version = await asyncio.to_thread(_prepare_file, path)
            conn = await aiosqlite.connect(path)
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA busy_timeout=5000")
            await conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        except (sqlite3.Error, OSError) as e:
            if conn is not None:
                await conn.close()
            raise RouteLogError(f"route_log.path {path!r} is not writable: {e}") from e
        self._conn = conn
        self._writable = True
        self._last_flush = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._run(), name="routecar-routelog-writer")
        log.info("route log: writing to %s (schema v%d)", path, version)

    async def flush(self) -> None:
        """Waits until every record submitted so far is written (or given up on)."""
        if self._task is None:
            raise RouteLogError("route log writer is not started")
        target = self._accepted
        if self._settled >= target or self._stopped:
            return
        fut = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, fut))
        self._wake.set()
        await fut

    async def prune(self) -> int:
        """Runs one whole retention pass now; returns the number of rows deleted."""
        if self._conn is None:
            raise RouteLogError("route log writer is not started")
        rp = RetentionPass(self._config.retention, self._clock())
        while not rp.done:
            async with self._db_lock:
                await rp.step(self._conn)
        return rp.deleted

    async def close(self) -> None:
        """Writes everything still queued, then closes the file. Safe to call twice."""
        if self._task is None:
            if self._queue:
                log.warning("route log: closed before start; %d records not written", len(self._queue))
            self._stopped = True
            return
        self._closing = True
        self._wake.set()
        await self._task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        self._report_drops()

    # --- the writer task --------------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                if await self._cycle():
                    break
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug here must not take the sidecar down; the next cycle tries again.
                failures += 1
                log.exception("route log writer cycle failed")
                if self._closing and failures >= 3:
                    lost = len(self._queue)
                    self._queue.clear()
                    self._settle(lost)
                    self._drop(lost)
                    break
                await asyncio.sleep(min(0.1 * failures, 1.0))
        self._stopped = True
        for _, fut in self._flush_waiters:
            if not fut.done():
                fut.set_result(None)
        self._flush_waiters.clear()

    async def _cycle(self) -> bool:
        """Waits for work, writes what is due, does a bit of retention. True once closed.

        Full batches go out as soon as they fill; a partial one once `flush_interval` has
        passed since the last flush, or when close() or flush() asks for it.
        """
        cfg = self._config
        loop = asyncio.get_running_loop()
        deadline = self._last_flush + cfg.flush_interval
        busy = self._retention is not None or self._monotonic() >= self._retention_due
        if not (self._closing or self._flush_waiters or busy) and len(self._queue) < cfg.batch_size:
            timeout = deadline - loop.time() if self._queue else cfg.flush_interval
            if timeout > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
        self._wake.clear()
        force = self._closing or bool(self._flush_waiters) or loop.time() >= deadline
        # Bounded so retention still progresses under sustained load; closing drains it all.
        batches = cfg.queue_size // cfg.batch_size + 1
        while self._queue and (batches > 0 or self._closing):
            if len(self._queue) < cfg.batch_size and not force:
                break
            batches -= 1
            n = min(len(self._queue), cfg.batch_size)
            await self._write([self._queue.popleft() for _ in range(n)])
        if force:
            self._last_flush = loop.time()
        if self._closing:
            if not self._queue:
                self._stopped = True  # from here on submit() refuses; nothing can slip in
                return True
            return False
        await self._retention_step()
        self._report_drops()
        return False

    async def _write(self, batch: list[RouteRecord]) -> None:
        assert self._conn is not None
        record_prompts = self._config.record_prompts
        redactor = self._redactor
        # After a batch has already failed for good, don't retry every later one the same
        # way: try each once until a write succeeds again, so a full disk can't stall close().
        delays = self._retry_delays if self._writable else ()
        for attempt in range(len(delays) + 1):
            try:
                async with self._db_lock:
                    # A generator: rows are built in aiosqlite's thread, not on the event loop.
                    rows = (to_row(r, record_prompts, redactor) for r in batch)
                    await self._conn.executemany(INSERT_SQL, rows)
                    await self._conn.commit()
            except Exception as e:
                self._write_errors += 1
                self._writable = False
                await self._rollback()
                if attempt < len(delays):
                    log.warning("route log: write of %d rows failed (%s); retrying", len(batch), e)
                    await asyncio.sleep(delays[attempt])
                    continue
                log.error("route log: gave up on %d rows: %s", len(batch), e)
                self._drop(len(batch))
                break
            else:
                self._written += len(batch)
                self._writable = True
                break
        self._settle(len(batch))

    async def _rollback(self) -> None:
        assert self._conn is not None
        try:
            await self._conn.rollback()
        except Exception:
            pass  # nothing to roll back, or the connection itself is gone: the next write tells

    def _settle(self, n: int) -> None:
        self._settled += n
        if not self._flush_waiters:
            return
        waiting = []
        for target, fut in self._flush_waiters:
            if self._settled >= target:
                if not fut.done():
                    fut.set_result(None)
            else:
                waiting.append((target, fut))
        self._flush_waiters = waiting

    async def _retention_step(self) -> None:
        assert self._conn is not None
        if self._retention is None:
            if self._monotonic() < self._retention_due:
                return
            self._retention = RetentionPass(self._config.retention, self._clock())
        rp = self._retention
        try:
            async with self._db_lock:
                await rp.step(self._conn)
        except Exception as e:
            log.warning("route log: retention failed (%s); next try in %.0fs", e, self._retention_every)
            await self._rollback()
            rp = None
        if rp is None or rp.done:
            if rp is not None and rp.deleted:
                log.info("route log: retention deleted %d rows", rp.deleted)
            self._retention = None
            self._retention_due = self._monotonic() + self._retention_every
