"""Trimming the route log by age and by row count, a small chunk at a time.

One pass is a sequence of short DELETE statements (each at most `chunk` rows), so the writer
can interleave its inserts between them and never stalls behind a big delete.
"""

from __future__ import annotations

import aiosqlite

from routecar.config.model import Retention
from routecar.routelog.schema import TABLE

CHUNK_ROWS = 2_000
# One pass deletes at most this many chunks; anything left waits for the next pass.
MAX_CHUNKS_PER_PASS = 1_000


class RetentionPass:
    """Deletes rows older than `age_cutoff` (unix seconds), then all but the newest `max_rows`."""

    def __init__(self, retention: Retention, now: float, chunk: int = CHUNK_ROWS) -> None:
        self._age_cutoff = None if retention.max_age is None else now - retention.max_age
        self._max_rows = retention.max_rows
        self._chunk = chunk
        self._phase = "age" if self._age_cutoff is not None else "rows"
        self._id_cutoff: int | None = None
        self._chunks = 0
        self.deleted = 0

    @property
    def done(self) -> bool:
        return self._phase == "done"

    async def step(self, conn: aiosqlite.Connection) -> None:
        """Runs one DELETE of at most `chunk` rows and commits it."""
        if self._chunks >= MAX_CHUNKS_PER_PASS:
            self._phase = "done"
        if self._phase == "age":
            n = await self._delete(
                conn, f"SELECT id FROM {TABLE} WHERE ts < ? LIMIT ?", (self._age_cutoff, self._chunk)
            )
            if n < self._chunk:
                self._phase = "rows"
        elif self._phase == "rows":
            if self._id_cutoff is None:
                self._id_cutoff = await self._rows_cutoff(conn)
                if self._id_cutoff is None:
                    self._phase = "done"
                    return
            n = await self._delete(
                conn,
                f"SELECT id FROM {TABLE} WHERE id <= ? ORDER BY id LIMIT ?",
                (self._id_cutoff, self._chunk),
            )
            if n < self._chunk:
                self._phase = "done"

    async def _delete(self, conn: aiosqlite.Connection, select: str, params: tuple) -> int:
        cursor = await conn.execute(f"DELETE FROM {TABLE} WHERE id IN ({select})", params)
        n = cursor.rowcount
        await cursor.close()
        await conn.commit()
        self._chunks += 1
        self.deleted += max(n, 0)
        return n

    async def _rows_cutoff(self, conn: aiosqlite.Connection) -> int | None:
        """The id of the newest row to delete so that `max_rows` remain, or None."""
        if self._max_rows is None:
            return None
        async with conn.execute(f"SELECT min(id), max(id) FROM {TABLE}") as cur:
            lo, hi = await cur.fetchone()  # type: ignore[misc]
        # Ids only grow and we only delete the oldest, so a span within the limit needs no count.
        if lo is None or hi - lo + 1 <= self._max_rows:
            return None
        async with conn.execute(
            f"SELECT id FROM {TABLE} ORDER BY id DESC LIMIT 1 OFFSET ?", (self._max_rows,)
        ) as cur:
            row = await cur.fetchone()
        return None if row is None else int(row[0])
