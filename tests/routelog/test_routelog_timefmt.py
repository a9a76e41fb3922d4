from __future__ import annotations

from datetime import datetime

import pytest

from routecar.routelog.timefmt import fmt_clock, fmt_ms, fmt_usd, parse_duration, since_cutoff


@pytest.mark.parametrize("text,seconds", [
    ("90", 90.0), ("500ms", 0.5), ("30s", 30.0), ("10m", 600.0), ("2h", 7200.0),
    ("1d", 86400.0), ("1w", 604800.0), ("1h30m", 5400.0), (" 1.5M ", 90.0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "10x", "-5m", "m10", "nan"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_since_takes_durations_and_iso_times() -> None:
    assert since_cutoff("10m", now=1000.0) == 400.0
    iso = datetime(2024, 5, 1, 9, 30)
    assert since_cutoff("2024-05-01T09:30", now=0.0) == iso.timestamp()
    with pytest.raises(ValueError, match="ISO"):
        since_cutoff("last tuesday")


def test_formats() -> None:
    ts = datetime(2024, 5, 1, 9, 30, 5, 123456).timestamp()
    assert fmt_clock(ts, now=ts) == "09:30:05.123"
    assert fmt_clock(ts, now=ts + 86400) == "2024-05-01 09:30:05.123"
    assert fmt_clock(None) == "-"
    assert [fmt_ms(v) for v in (None, 0.42, 12.4, 999.6, 1234.0)] == ["-", "0.4ms", "12.4ms", "1000ms", "1.23s"]
    assert [fmt_usd(v) for v in (None, 0, 0.000121, 1e-9, 12.5)] == ["-", "$0", "$0.000121", "<$0.000001", "$12.50"]
