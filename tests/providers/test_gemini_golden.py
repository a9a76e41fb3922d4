"""Golden translations for the Gemini adapter: each JSON file under golden/gemini holds an input
and the exact expected output. Regenerate after a deliberate change with
ROUTECAR_UPDATE_GOLDEN=1 and review the diff."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from routecar.config.model import ProviderConfig
from routecar.providers.base import SSEEvent, Translation
from routecar.providers.gemini import GeminiAdapter

GOLDEN = Path(__file__).parent / "golden" / "gemini"
UPDATE = os.environ.get("ROUTECAR_UPDATE_GOLDEN") == "1"


def make_adapter() -> GeminiAdapter:
    counter = itertools.count(1)
    return GeminiAdapter(clock=lambda: 1_700_000_000.0, new_id=lambda prefix: f"{prefix}{next(counter):04d}")


def _cases(kind: str) -> list[Path]:
    return sorted(GOLDEN.glob(f"{kind}_*.json"))


def _check(path: Path, actual: Any) -> None:
    case = json.loads(path.read_text())
    actual = json.loads(orjson.dumps(actual))
    if UPDATE:
        case["expected"] = actual
        path.write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n")
    assert actual == case["expected"]


def provider(spec: dict[str, Any]) -> ProviderConfig:
    return ProviderConfig(
        name="g",
        type="gemini",
        base_url=spec["base_url"],
        api_key=spec.get("api_key"),
        headers=spec.get("headers") or {},
        drop_unsupported_params=spec.get("drop_unsupported_params", False),
    )


@pytest.mark.parametrize("path", _cases("request"), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    notes = Translation()
    req = make_adapter().chat_request(
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
    actual = make_adapter().chat_response(orjson.dumps(case["payload"]), case["model"])
    ChatCompletion.model_validate(actual)
    _check(path, actual)


@pytest.mark.parametrize("path", _cases("stream"), ids=lambda p: p.stem)
def test_stream(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    decoder = make_adapter().stream_decoder(case["model"])
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
    _check(path, dataclasses.asdict(make_adapter().parse_error(case["status"], raw)))


@pytest.mark.parametrize("path", _cases("embed_request"), ids=lambda p: p.stem)
def test_embeddings_request(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    req = make_adapter().embeddings_request(provider(case["provider"]), case["model"], case["body"])
    _check(path, {"url": req.url, "headers": req.headers, "body": orjson.loads(req.body)})


@pytest.mark.parametrize("path", _cases("embed_response"), ids=lambda p: p.stem)
def test_embeddings_response(path: Path) -> None:
    case = json.loads(path.read_text())["input"]
    actual = make_adapter().embeddings_response(orjson.dumps(case["payload"]), case["model"], request_body=case["request"])
    CreateEmbeddingResponse.model_validate(actual)
    _check(path, actual)
