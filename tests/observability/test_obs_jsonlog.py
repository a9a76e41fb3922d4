"""JSON logging: real logger, real writer thread, streams we can read back."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from routecar.observability.jsonlog import (
    dropped_log_records,
    log_request,
    parse_level,
    setup_logging,
    shutdown_logging,
)
from routecar.redaction import Redactor
from routecar.routelog.record import RouteRecord

log = logging.getLogger("routecar.test")


class GateStream(io.TextIOBase):
    """A stdout that blocks every write until the gate opens (a stalled log shipper)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.parts: list[str] = []

    def write(self, s: str) -> int:
        self.gate.wait(timeout=10)  # bounded, should the test fail to open it
        self.parts.append(s)
        return len(s)

    def lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in "".join(self.parts).splitlines()]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.fixture
def stream(redactor: Redactor) -> Iterator[io.StringIO]:
    out = io.StringIO()
    setup_logging("debug", out, redactor=redactor)
    yield out
    shutdown_logging()


def read_lines(out: io.StringIO) -> list[dict[str, Any]]:
    shutdown_logging()
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_lines_are_json_with_extras_and_exceptions(stream: io.StringIO) -> None:
    log.info("routed %s", "fast", extra={"route": "fast", "attempts": 2, "tags": {"team": "a"},
                                         "level": "spoofed"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second = read_lines(stream)
    assert first["msg"] == "routed fast"
    assert first["logger"] == "routecar.test" and first["level"] == "info"
    assert first["route"] == "fast" and first["attempts"] == 2 and first["tags"] == {"team": "a"}
    ts = datetime.fromisoformat(first["ts"])
    assert first["ts"].endswith("Z") and ts.tzinfo is not None
    assert ts.utcoffset() == timezone.utc.utcoffset(None)
    assert second["level"] == "error" and second["msg"] == "failed"
    assert isinstance(second["exc"], str) and "ValueError: boom" in second["exc"]
    assert "Traceback" in second["exc"]


def test_secrets_are_redacted_everywhere(stream: io.StringIO, redactor: Redactor) -> None:
    literal = "corp-internal-token-7f3a9"
    redactor.register(literal)  # after set-up: the handler scrubs with the same redactor

    @dataclass
    class Provider:
        name: str
        api_key: str = field(repr=False)

    log.warning(
        "upstream said %s with key sk-abcdefghijklmnop1234 and %s",
        literal, "sk-ant-api03-ZZZZZZZZZZZZZZZZ",
        extra={
            "header": f"Bearer {literal}",
            "nested": {"keys": ["AIzaSyA1234567890abcdefghijklmno", "fine"],
                       literal: "as a key too"},
            "provider": Provider("openai", "sk-hidden-in-a-dataclass-000"),
        },
    )
    (line,) = read_lines(stream)
    raw = stream.getvalue()
    for secret in (literal, "sk-abcdefghijklmnop1234", "sk-ant-api03", "AIzaSyA1234567890",
                   "sk-hidden-in-a-dataclass"):
        assert secret not in raw
    assert line["msg"].count("[REDACTED]") == 3
    assert line["nested"]["keys"] == ["[REDACTED]", "fine"]
    assert "openai" in line["provider"]


def test_log_request_lines_are_scrubbed(stream: io.StringIO, redactor: Redactor) -> None:
    redactor.register("opaque-secret-123")
    log_request(RouteRecord(ts=0.0, request_id="r", endpoint="chat", status=401, outcome="upstream_error",
                            error_message="bad key opaque-secret-123 / sk-abcdefghijklmnop"))
    (line,) = read_lines(stream)
    assert line["error"] == "bad key [REDACTED] / [REDACTED]"


def test_log_request_fields(stream: io.StringIO) -> None:
    log_request(RouteRecord(
        ts=0.0, request_id="req-1", endpoint="chat", requested_model="fast", route="fast",
        chosen_model="gpt-4o-mini", provider="openai", status=200, outcome="ok", attempts=1,
        latency_ms=123.456, ttft_ms=45.678, prompt_tokens=10, completion_tokens=5, cost_usd=0.0001,
    ))
    (line,) = read_lines(stream)
    assert line["logger"] == "routecar.request"
    expected = {"request_id": "req-1", "route": "fast", "requested_model": "fast",
                "chosen_model": "gpt-4o-mini", "provider": "openai", "status": 200, "outcome": "ok",
                "attempts": 1, "latency_ms": 123.46, "ttft_ms": 45.68,
                "tokens": {"prompt": 10, "completion": 5}, "cost_usd": 0.0001}
    assert {k: line[k] for k in expected} == expected


def test_level_filters_and_parse() -> None:
    out = io.StringIO()
    setup_logging("warning", out, redactor=Redactor())
    log.info("hidden")
    log.warning("shown")
    assert [line["msg"] for line in read_lines(out)] == ["shown"]
    assert parse_level("DEBUG") == logging.DEBUG
    with pytest.raises(ValueError, match="unknown log level"):
        parse_level("loud")


def test_slow_stream_never_blocks_callers_and_shutdown_flushes() -> None:
    out = GateStream()
    setup_logging("info", out, redactor=Redactor())
    for i in range(50):
        log.info("line %d", i)
    # The writer thread is stuck in its first write, yet every call above returned.
    assert out.parts == []
    out.gate.set()
    shutdown_logging()
    assert [line["msg"] for line in out.lines()] == [f"line {i}" for i in range(50)]


def test_full_queue_drops_instead_of_blocking() -> None:
    out = GateStream()
    setup_logging("info", out, redactor=Redactor(), queue_size=5)
    for i in range(20):
        log.info("line %d", i)
    dropped = dropped_log_records()
    assert dropped >= 14
    out.gate.set()
    shutdown_logging()
    assert len(out.lines()) + dropped == 20


def test_setup_twice_replaces_and_shutdown_detaches() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("info", first, redactor=Redactor())
    log.info("one")
    setup_logging("info", second, redactor=Redactor())  # drains the first set-up before switching
    log.info("two")
    shutdown_logging()
    assert [orjson.loads(x)["msg"] for x in first.getvalue().splitlines()] == ["one"]
    assert [orjson.loads(x)["msg"] for x in second.getvalue().splitlines()] == ["two"]
    assert not any(isinstance(h, logging.handlers.QueueHandler)
                   for h in logging.getLogger("routecar").handlers)
    shutdown_logging()  # idempotent
