"""Durations, rates and byte sizes as SREs write them in `sidecar.yaml`, and the one reader of
duration text ("500ms", "1h30m", "0.5s") that every other part of routecar uses too.

Each config parser takes the raw YAML value and the key path it came from, and raises
`ConfigError` with that path, so callers can collect errors without formatting messages
themselves. This module imports nothing of routecar's but `errors`, so anything may use it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Collection

from .errors import ConfigError, found, is_number

# Every unit any reader of durations accepts, in seconds. Each reader names its own subset:
# sidecar.yaml takes ms..d, `--since` adds weeks, and providers' Go-formatted rate-limit resets
# ("6m0s", "20ms", "150us") go down to nanoseconds.
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0,
                "d": 86400.0, "w": 7 * 86400.0}
CONFIG_UNITS = frozenset({"ms", "s", "m", "h", "d"})
# One "<number><unit>" part, Go-style ("1.5h", ".5s", "1.s"); the longer units are listed
# before their prefixes so "5ms" is never read as "5m" followed by garbage.
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def parse_duration_text(text: str, units: Collection[str] = CONFIG_UNITS) -> float | None:
    """Seconds in one or more "<number><unit>" parts ("500ms", "1h30m", "0.5s"), units from
    `units`; None unless the whole text is such parts and the sum is finite. Case-sensitive and
    without surrounding space: callers that accept "5M" or " 5m " normalize first."""
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        unit = match.group(2)
        if match.start() != pos or unit not in units:
            return None
        total += float(match.group(1)) * UNIT_SECONDS[unit]
        pos = match.end()
    return total if pos == len(text) and pos > 0 and math.isfinite(total) else None


def parse_duration(value: Any, path: str) -> float:
    """Seconds from a number or a string such as "500ms", "30s", "5m", "1h", "7d", "1h30m"."""
    expected = "a duration (seconds, or a string like 500ms, 30s, 5m, 1h, 7d)"
    seconds: float | None = None
    if is_number(value):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        seconds = float(text) if _NUMBER.fullmatch(text) else parse_duration_text(text)
    if seconds is None:
        raise ConfigError([f"{path}: must be {expected}, got {found(value)}"])
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError([f"{path}: must be a duration >= 0, got {found(value)}"])
    return seconds


def parse_rate(value: Any, path: str) -> float:
    """A fraction in [0, 1]; "5%" is accepted as 0.05 because it cannot mean anything else."""
    rate: float | None = None
    if is_number(value):
        rate = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("%") and _NUMBER.fullmatch(text[:-1].strip()):
            rate = float(text[:-1]) / 100.0
        elif _NUMBER.fullmatch(text):
            rate = float(text)
    if rate is None or not math.isfinite(rate) or not 0.0 <= rate <= 1.0:
        raise ConfigError([f"{path}: must be a fraction between 0 and 1, got {found(value)}"])
    return rate


# KB/MB/GB are decimal and KiB/MiB/GiB binary, as the units say; "8MiB" is 8 * 1024 * 1024.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_size(value: Any, path: str) -> int:
    """Bytes from an integer or a string such as "8MiB", "512KB", "1GB"."""
    expected = "a size in bytes (an integer, or a string like 512KB, 8MiB)"
    size: float | None = None
    if is_number(value):
        size = float(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if match and match.group(2) in _SIZE_UNITS:
            size = float(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if size is None or not math.isfinite(size):
        raise ConfigError([f"{path}: must be {expected}, got {found(value)}"])
    if size < 1 or size != int(size):
        raise ConfigError([f"{path}: must be a whole number of bytes >= 1, got {found(value)}"])
    return int(size)


def format_size(size: int) -> str:
    """The inverse of parse_size for display, in binary units when exact: 8388608 -> "8MiB"."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def format_duration(seconds: float) -> str:
    """The inverse of parse_duration for display: 0.25 -> "250ms", 5400 -> "1h30m"."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts: list[str] = []
    rest = seconds
    for unit in ("d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if rest >= size:
            whole = int(rest // size)
            parts.append(f"{whole}{unit}")
            rest -= whole * size
    if rest or not parts:
        parts.append(f"{rest:g}s")
    return "".join(parts)
