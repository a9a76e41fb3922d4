"""Golden translations for the Anthropic entry point, `POST /v1/messages` (golden/inbound; see
golden_files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from routecar.providers.anthropic_inbound import MessagesStreamEncoder, canonical_to_message, messages_to_canonical
from routecar.providers.base import Chunk
from routecar.providers.sse import SSEParser
from tests.providers.golden_files import case_input, cases, check

EVENT = TypeAdapter(RawMessageStreamEvent)


def parse_events(raw: bytes) -> list[dict[str, Any]]:
    """Anthropic SSE bytes -> [{event, data}], checking the event name matches data.type."""
    parser = SSEParser()
    events = parser.feed(raw)
    assert parser.pending == 0, "every event must end with a blank line"
    out = []
    for ev in events:
        data = orjson.loads(ev.data)
        assert ev.event == data["type"]
        out.append({"event": ev.event, "data": data})
    return out


@pytest.mark.parametrize("path", cases("inbound", "to_canonical"), ids=lambda p: p.stem)
def test_to_canonical(path: Path) -> None:
    check(path, messages_to_canonical(case_input(path)))


@pytest.mark.parametrize("path", cases("inbound", "to_message"), ids=lambda p: p.stem)
def test_to_message(path: Path) -> None:
    case = case_input(path)
    actual = canonical_to_message(case["response"], case["model"])
    Message.model_validate(actual)
    check(path, actual)


@pytest.mark.parametrize("path", cases("inbound", "encode"), ids=lambda p: p.stem)
def test_encode(path: Path) -> None:
    case = case_input(path)
    encoder = MessagesStreamEncoder(case["model"])
    raw = b"".join(encoder.encode(Chunk(c)) for c in case["chunks"])
    if case.get("error"):
        raw += encoder.error(*case["error"])
    raw += encoder.finish()
    assert encoder.finish() == b""  # idempotent
    events = parse_events(raw)
    for ev in events:
        if ev["event"] != "error":
            EVENT.validate_python(ev["data"])
    check(path, events)
