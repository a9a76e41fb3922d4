"""`resilience.health_check`: active health checks of open circuits (defaults on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routecar.config import ConfigError, parse_config
from routecar.config.describe import format_config
from routecar.config.loader import load_config
from routecar.config.model import HealthCheckConfig

REPO = Path(__file__).resolve().parents[2]
BASE = (
    "providers: {p: {type: openai, base_url: 'http://127.0.0.1:9/v1'}}\n"
    "models: {m: {deployments: [{provider: p}]}}\n"
)


def parse(resilience: str = "") -> HealthCheckConfig:
    return parse_config(BASE + resilience).resilience.health_check


def errors(resilience: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + resilience)
    return info.value.errors


def test_on_by_default() -> None:
    assert parse() == HealthCheckConfig(enabled=True, interval=5.0, timeout=2.0)
    assert parse("resilience: {health_check: {}}") == HealthCheckConfig()


def test_durations_parse_like_the_others() -> None:
    hc = parse("resilience:\n  health_check: {enabled: false, interval: 10s, timeout: 500ms}\n")
    assert hc == HealthCheckConfig(enabled=False, interval=10.0, timeout=0.5)
    assert parse("resilience: {health_check: {interval: 3}}").interval == 3.0


@pytest.mark.parametrize(("block", "expected"), [
    ("{intervall: 5s}", "resilience.health_check.intervall: unknown key (did you mean 'interval'?)"),
    ("{interval: 0s}", "resilience.health_check.interval: must be a duration > 0"),
    ("{timeout: soon}", "resilience.health_check.timeout: must be a duration"),
    ("{interval: 1s, timeout: 2s}", "resilience.health_check.timeout: must be <= interval (1s), got 2s"),
    ("{enabled: maybe}", "resilience.health_check.enabled: must be true or false"),
    ("true", "resilience.health_check: must be a mapping"),
])
def test_errors_name_their_key_path(block: str, expected: str) -> None:
    found = errors(f"resilience: {{health_check: {block}}}")
    assert any(e.startswith(expected) for e in found), found


def test_check_prints_it() -> None:
    assert "health checks: every 5s while a circuit is open (timeout 2s)" in format_config(parse_config(BASE))
    off = parse_config(BASE + "resilience: {health_check: {enabled: false}}")
    assert "health checks: off" in format_config(off)


def test_repo_example_documents_the_defaults() -> None:
    config = load_config(REPO / "sidecar.yaml", env={})
    assert config.resilience.health_check == HealthCheckConfig()
    assert "health_check:" in (REPO / "sidecar.yaml").read_text()
