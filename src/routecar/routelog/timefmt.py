"""Times as SREs type them (`--since 10m`) and as the route log commands print them."""

from __future__ import annotations

import time
from datetime import datetime

from ..config.durations import CONFIG_UNITS, parse_duration_text

# A week back is a common question of the route log, and never a config value.
_SINCE_UNITS = CONFIG_UNITS | {"w"}


def parse_duration(text: str) -> float:
    """Seconds in `90`, `500ms`, `30s`, `10m`, `2h`, `1d`, `1w` or a sum like `1h30m`."""
    s = text.strip().lower()
    try:
        value = float(s)
    except ValueError:
        parsed = parse_duration_text(s, _SINCE_UNITS)
        if parsed is None:
            raise ValueError(
                f"bad duration {text!r}: use a number of seconds or e.g. 500ms, 30s, 10m, 2h, 1d"
            ) from None
        value = parsed
    if value < 0 or value != value:
        raise ValueError(f"bad duration {text!r}: must be a positive number of seconds")
    return value


def since_cutoff(text: str, now: float | None = None) -> float:
    """The unix time `--since TEXT` means: a duration ago, or an ISO date/time (local if naive)."""
    now = time.time() if now is None else now
    try:
        return now - parse_duration(text)
    except ValueError as duration_error:
        try:
            return datetime.fromisoformat(text.strip()).timestamp()
        except ValueError:
            raise ValueError(f"{duration_error}, or an ISO time like 2024-05-01T09:30") from None


def fmt_clock(ts: float | None, now: float | None = None) -> str:
    """Local `HH:MM:SS.mmm`, with the date in front when it is not today."""
    if ts is None:
        return "-"
    dt = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(time.time() if now is None else now).date()
    clock = dt.strftime("%H:%M:%S.") + f"{dt.microsecond // 1000:03d}"
    return clock if dt.date() == today else f"{dt:%Y-%m-%d} {clock}"


def fmt_iso(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 100:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.2f}s"


def fmt_usd(usd: float | None) -> str:
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if abs(usd) >= 1:
        return f"${usd:,.2f}"
    text = f"${usd:.6f}".rstrip("0").rstrip(".")
    return "<$0.000001" if text == "$0" else text


def fmt_pct(part: int, whole: int) -> str:
    return "-" if whole == 0 else f"{100.0 * part / whole:.1f}%"
