"""Golden translations for the Gemini adapter (golden/gemini; see golden_files)."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import orjson
import pytest
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from routecar.providers.base import ChatCall, Translation
from routecar.providers.gemini import GeminiAdapter
from tests.providers.golden_files import case_input, cases, check, decode_stream, error_payload, provider


def make_adapter() -> GeminiAdapter:
    counter = itertools.count(1)
    return GeminiAdapter(clock=lambda: 1_700_000_000.0, new_id=lambda prefix: f"{prefix}{next(counter):04d}")


@pytest.mark.parametrize("path", cases("gemini", "request"), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = case_input(path)
    notes = Translation()
    call = ChatCall(provider(case["provider"], "gemini"), case["model"], case["body"], case["stream"],
                    case.get("default_max_tokens"))
    req = make_adapter().chat_request(call, notes)
    actual = {"url": req.url, "headers": req.headers, "body": orjson.loads(req.body), "dropped": notes.dropped_params}
    check(path, actual)


@pytest.mark.parametrize("path", cases("gemini", "response"), ids=lambda p: p.stem)
def test_response(path: Path) -> None:
    case = case_input(path)
    actual = make_adapter().chat_response(orjson.dumps(case["payload"]), case["model"])
    ChatCompletion.model_validate(actual)
    check(path, actual)


@pytest.mark.parametrize("path", cases("gemini", "stream"), ids=lambda p: p.stem)
def test_stream(path: Path) -> None:
    case = case_input(path)
    check(path, decode_stream(make_adapter().stream_decoder(case["model"]), case["events"]))


@pytest.mark.parametrize("path", cases("gemini", "error"), ids=lambda p: p.stem)
def test_error(path: Path) -> None:
    case = case_input(path)
    check(path, dataclasses.asdict(make_adapter().parse_error(case["status"], error_payload(case))))


@pytest.mark.parametrize("path", cases("gemini", "embed_request"), ids=lambda p: p.stem)
def test_embeddings_request(path: Path) -> None:
    case = case_input(path)
    req = make_adapter().embeddings_request(provider(case["provider"], "gemini"), case["model"], case["body"])
    check(path, {"url": req.url, "headers": req.headers, "body": orjson.loads(req.body)})


@pytest.mark.parametrize("path", cases("gemini", "embed_response"), ids=lambda p: p.stem)
def test_embeddings_response(path: Path) -> None:
    case = case_input(path)
    actual = make_adapter().embeddings_response(orjson.dumps(case["payload"]), case["model"], request_body=case["request"])
    CreateEmbeddingResponse.model_validate(actual)
    check(path, actual)
