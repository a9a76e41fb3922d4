"""Golden translations for the Anthropic entry point (`POST /v1/messages`): each JSON file under
golden/inbound holds an input and the exact expected output. Regenerate after a deliberate
change with ROUTECAR_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from routecar.providers.anthropic_inbound import MessagesStreamEncoder, canonical_to_message, messages_to_canonical
from routecar.providers.base import Chunk
from routecar.providers.sse import SSEParser

GOLDEN = Path(__file__).parent / "golden" / "inbound"
UPDATE = os.environ.get("ROUTECAR_UPDATE_GOLDEN") == "1"
EVENT = TypeAdapter(RawMessageStreamEvent)


def _cases(kind: str) -> list[Path]:
    return sorted(GOLDEN.glob(f"{kind}_*.json"))


def _check(path: Path, actual: Any) -> None:
    case = json.loads(path.read_text())
    actual = json.loads(orjson.dumps(actual))
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    assert actual == case["expected"]


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


@pytest.mark.parametrize("path", _cases("to_canonical"), ids=lambda p: p.stem)
def test_to_canonical(path: Path) -> None:
    _check(path, messages_to_canonical(json.loads(path.read_text())["input"]))


@pytest.mark.parametrize("path", _cases("to_message"), ids=lambda p: p.stem)
def test_to_message(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    actual = canonical_to_message(case["response"], case["model"])
    Message.model_validate(actual)
    _check(path, actual)


@pytest.mark.parametrize("path", _cases("encode"), ids=lambda p: p.stem)
def test_encode(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
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
    _check(path, events)
