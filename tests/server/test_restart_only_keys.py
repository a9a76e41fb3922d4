"""A reload cannot rebuild what is built once at start (listeners, route-log writer, telemetry
exporter): the config in effect keeps the running values, and a warning says a restart is needed."""

from __future__ import annotations

import logging

import pytest

from routecar.config.loader import parse_config
from routecar.server.app import _keep_sockets

BASE = """
server: {listen: "127.0.0.1:7300", admin_listen: "127.0.0.1:7301"}
providers: {p: {type: openai, base_url: 'http://127.0.0.1:9/v1'}}
models: {m: {deployments: [{provider: p}]}}
route_log: {path: ./a.db, record_prompts: %s}
%s
"""


def cfg(record_prompts: bool = False, telemetry: str = "", path: str = "./a.db"):
    return parse_config((BASE % (str(record_prompts).lower(), telemetry)).replace("./a.db", path), env={})


def test_route_log_and_telemetry_changes_keep_the_running_ones_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    old = cfg()
    with caplog.at_level(logging.WARNING):
        kept = _keep_sockets(cfg(path="./b.db", telemetry="telemetry: {route_rows: stdout}"), old)
    assert kept.route_log == old.route_log and kept.telemetry == old.telemetry
    text = caplog.text
    assert "route_log changes" in text and "telemetry changes" in text


def test_record_prompts_turns_off_at_once_and_on_only_at_a_restart(caplog: pytest.LogCaptureFixture) -> None:
    assert _keep_sockets(cfg(record_prompts=False), cfg(record_prompts=True)).route_log.record_prompts is False
    with caplog.at_level(logging.WARNING):
        assert _keep_sockets(cfg(record_prompts=True), cfg(record_prompts=False)).route_log.record_prompts is False
    assert "need a restart" in caplog.text


def test_an_unchanged_config_is_kept_as_is(caplog: pytest.LogCaptureFixture) -> None:
    new = cfg(telemetry="telemetry: {route_rows: stdout}")
    with caplog.at_level(logging.WARNING):
        assert _keep_sockets(new, cfg(telemetry="telemetry: {route_rows: stdout}")) == new
    assert caplog.text == ""
