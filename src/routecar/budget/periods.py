"""Calendar budget periods in UTC: when the current one started and when it resets."""

from __future__ import annotations

import calendar
import time

PERIODS = ("hour", "day", "month")


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """(start, end) in unix seconds of the calendar `period` (UTC) containing `now`."""
    if period == "hour":
        start = now - now % 3600
        return start, start + 3600
    if period == "day":
        start = now - now % 86400
        return start, start + 86400
    if period == "month":
        t = time.gmtime(now)
        start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
        year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
        return float(start), float(calendar.timegm((year, month, 1, 0, 0, 0)))
    raise ValueError(f"unknown budget period '{period}' (one of: {', '.join(PERIODS)})")


def iso_utc(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
