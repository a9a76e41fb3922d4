"""Small test helpers shared across test packages."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import orjson

JSON_COLUMNS = ("attempt_log", "skipped", "tags", "classes", "candidates", "rules_matched")


def read_rows(path: str) -> list[dict[str, Any]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in con.execute("SELECT * FROM route_log ORDER BY id")]
    finally:
        con.close()
    for row in rows:
        for col in JSON_COLUMNS:
            if isinstance(row.get(col), str):
                row[col] = orjson.loads(row[col])
    return rows


async def route_rows(sidecar: Any, expected: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Rows of the sidecar's route log once `expected` have landed (bounded wait)."""
    path = sidecar.runtime.generation.config.route_log.path
    rows: list[dict[str, Any]] = []
    for _ in range(int(timeout / 0.05)):
        try:
            rows = read_rows(path)
        except sqlite3.OperationalError:
            rows = []
        if len(rows) >= expected:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {expected} route-log rows, found {len(rows)}")
