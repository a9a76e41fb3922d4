"""Golden translations for the Anthropic adapter: each JSON file under golden/anthropic holds an
input and the exact expected output. Regenerate after a deliberate change with
ROUTECAR_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from routecar.config.model import ProviderConfig
from routecar.providers.anthropic import AnthropicAdapter
from routecar.providers.base import SSEEvent, Translation

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
UPDATE = os.environ.get("ROUTECAR_UPDATE_GOLDEN") == "1"
ADAPTER = AnthropicAdapter(clock=lambda: 1_700_000_000.0)


def _cases(kind: str) -> list[Path]:
    return sorted(GOLDEN.glob(f"{kind}_*.json"))


def _check(path: Path, actual: Any) -> None:
    case = json.loads(path.read_text())
    actual = json.loads(orjson.dumps(actual))  # normalize tuples etc. to what JSON holds
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    assert actual == case["expected"]


def provider(spec: dict[str, Any], type_: str = "anthropic") -> ProviderConfig:
    return ProviderConfig(
        name="p",
        type=type_,
        base_url=spec["base_url"],
        api_key=spec.get("api_key"),
        headers=spec.get("headers") or {},
        drop_unsupported_params=spec.get("drop_unsupported_params", False),
    )


@pytest.mark.parametrize("path", _cases("request"), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    notes = Translation()
    req = ADAPTER.chat_request(
        provider(case["provider"]),
        case["model"],
        case["body"],
        case["stream"],
        notes,
        default_max_tokens=case.get("default_max_tokens"),
    )
    actual = {"url": req.url, "headers": req.headers, "body": orjson.loads(req.body), "dropped": notes.dropped_params}
    _check(path, actual)


@pytest.mark.parametrize("path", _cases("response"), ids=lambda p: p.stem)
def test_response(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    actual = ADAPTER.chat_response(orjson.dumps(case["payload"]), case["model"])
    ChatCompletion.model_validate(actual)
    _check(path, actual)


@pytest.mark.parametrize("path", _cases("stream"), ids=lambda p: p.stem)
def test_stream(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    decoder = ADAPTER.stream_decoder(case["model"])
    chunks = []
    for ev in case["events"]:
        assert not decoder.done
        chunks.extend(c.data for c in decoder.feed(SSEEvent(orjson.dumps(ev["data"]), ev["event"])))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    _check(path, {"chunks": chunks, "done": decoder.done})


@pytest.mark.parametrize("path", _cases("error"), ids=lambda p: p.stem)
def test_error(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    payload = case["payload"]
    raw = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    _check(path, dataclasses.asdict(ADAPTER.parse_error(case["status"], raw)))
