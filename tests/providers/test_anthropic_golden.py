"""Golden translations for the Anthropic adapter (golden/anthropic; see golden_files)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from openai.types.chat import ChatCompletion

from routecar.providers.anthropic import AnthropicAdapter
from routecar.providers.base import ChatCall, Translation
from tests.providers.golden_files import case_input, cases, check, decode_stream, error_payload, provider

ADAPTER = AnthropicAdapter(clock=lambda: 1_700_000_000.0)


@pytest.mark.parametrize("path", cases("anthropic", "request"), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = case_input(path)
    notes = Translation()
    call = ChatCall(provider(case["provider"], "anthropic"), case["model"], case["body"], case["stream"],
                    case.get("default_max_tokens"))
    req = ADAPTER.chat_request(call, notes)
    actual = {"url": req.url, "headers": req.headers, "body": orjson.loads(req.body), "dropped": notes.dropped_params}
    check(path, actual)


@pytest.mark.parametrize("path", cases("anthropic", "response"), ids=lambda p: p.stem)
def test_response(path: Path) -> None:
    case = case_input(path)
    actual = ADAPTER.chat_response(orjson.dumps(case["payload"]), case["model"])
    ChatCompletion.model_validate(actual)
    check(path, actual)


@pytest.mark.parametrize("path", cases("anthropic", "stream"), ids=lambda p: p.stem)
def test_stream(path: Path) -> None:
    case = case_input(path)
    check(path, decode_stream(ADAPTER.stream_decoder(case["model"]), case["events"]))


@pytest.mark.parametrize("path", cases("anthropic", "error"), ids=lambda p: p.stem)
def test_error(path: Path) -> None:
    case = case_input(path)
    check(path, dataclasses.asdict(ADAPTER.parse_error(case["status"], error_payload(case))))
