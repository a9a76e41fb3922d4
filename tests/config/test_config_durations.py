import math

import pytest

from routecar.config import ConfigError
from routecar.config.durations import (
    CONFIG_UNITS, format_duration, parse_duration, parse_duration_text, parse_rate, parse_size,
)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (30, 30.0),
        (1.5, 1.5),
        ("500ms", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("7d", 7 * 86400.0),
        ("1h30m", 5400.0),
        ("1.5s", 1.5),
        (" 250ms ", 0.25),
        ("2", 2.0),
    ],
)
def test_durations(value, seconds):
    assert math.isclose(parse_duration(value, "a.b"), seconds)


@pytest.mark.parametrize("value", ["abc", "5 minutes", "-1s", -3, True, None, [1], "1w", "ms", ""])
def test_bad_durations_name_the_path_and_the_value(value):
    with pytest.raises(ConfigError) as exc:
        parse_duration(value, "routes.fast.max_ttft_p99")
    (message,) = exc.value.errors
    assert message.startswith("routes.fast.max_ttft_p99: must be a duration")
    assert ", got " in message


def test_duration_error_says_what_was_found():
    with pytest.raises(ConfigError) as exc:
        parse_duration("abc", "x.y")
    assert str(exc.value) == "x.y: must be a duration (seconds, or a string like 500ms, 30s, 5m, 1h, 7d), got string 'abc'"


@pytest.mark.parametrize(("value", "rate"), [(0, 0.0), (1, 1.0), (0.25, 0.25), ("0.5", 0.5), ("5%", 0.05)])
def test_rates(value, rate):
    assert math.isclose(parse_rate(value, "p"), rate)


@pytest.mark.parametrize("value", [1.5, -0.1, "abc", True, "150%", float("nan")])
def test_bad_rates(value):
    with pytest.raises(ConfigError, match=r"^p: must be a fraction between 0 and 1, got "):
        parse_rate(value, "p")


@pytest.mark.parametrize(
    ("value", "size"),
    [(1024, 1024), ("8MiB", 8 * 1024 * 1024), ("512KB", 512_000), ("1GiB", 1024**3), ("2 mb", 2_000_000), ("100", 100)],
)
def test_sizes(value, size):
    assert parse_size(value, "s") == size


@pytest.mark.parametrize("value", ["8 parsecs", 0, -5, 1.5, True, "0.5B", "1.0001KB"])
def test_bad_sizes(value):
    with pytest.raises(ConfigError, match=r"^server.max_body_bytes: must be "):
        parse_size(value, "server.max_body_bytes")


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (30, "30s"), (300, "5m"), (5400, "1h30m"), (7 * 86400, "7d"), (0, "0ms")]
)
def test_format_duration_round_trips(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    ("text", "units", "seconds"),
    [("1h30m", CONFIG_UNITS, 5400.0), (".5s", CONFIG_UNITS, 0.5), ("1.s", CONFIG_UNITS, 1.0),
     ("2m59.56s", CONFIG_UNITS, 179.56), ("150us", {"us"}, 0.00015), ("1w", {"w"}, 604800.0),
     ("1w", CONFIG_UNITS, None), ("5ms", {"m", "s"}, None), ("", CONFIG_UNITS, None),
     ("5", CONFIG_UNITS, None), ("5m x", CONFIG_UNITS, None), (" 5m", CONFIG_UNITS, None),
     ("5M", CONFIG_UNITS, None), ("-5s", CONFIG_UNITS, None), ("1" * 400 + "s", CONFIG_UNITS, None)],
)
def test_the_one_reader_of_duration_text(text, units, seconds):
    """Config, `--since` and rate-limit resets all read duration text here, each with its units."""
    parsed = parse_duration_text(text, units)
    if seconds is None:
        assert parsed is None
    else:
        assert parsed is not None and math.isclose(parsed, seconds)
