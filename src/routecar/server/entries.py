"""The data port's entry points: how each protocol's request becomes canonical, and how an
answer goes back in that protocol (whole bodies, stream events, errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..errors import ApiError
from ..providers import anthropic_inbound, responses_inbound
from ..providers.base import Chunk
from ..providers.json_splice import set_string_member
from ..providers.responses_answer import canonical_to_response
from ..providers.responses_stream import ResponsesStreamEncoder
from ..providers.sse import DONE, encode_data
from .request_parsing import validate_chat, validate_embeddings


class OpenAIStreamEncoder:
    """Canonical chunks → OpenAI SSE bytes; forwards the upstream's own bytes when it can,
    with `model` set by the model-field rule (see `answer_model`)."""

    __slots__ = ("client_wants_usage", "model")

    def __init__(self, client_wants_usage: bool, model: str):
        self.client_wants_usage = client_wants_usage
        self.model = model

    def encode(self, chunk: Chunk) -> bytes:
        data = chunk.data
        if not self.client_wants_usage and data.get("usage") and not data.get("choices"):
            return b""  # routecar asked for usage itself; the app did not
        if chunk.raw is not None:
            spliced = set_string_member(chunk.raw, "model", self.model)
            if spliced is not None:
                return encode_data(spliced)
        if "model" in data:
            data = {**data, "model": self.model}
        return encode_data(orjson.dumps(data))

    def finish(self) -> bytes:
        return DONE

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        return encode_data(orjson.dumps({"error": {"message": message, "type": error_type, "code": "stream_broken",
                                                   "param": None}}))


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _messages_canonical(body: dict[str, Any], raw: bytes | None = None) -> dict[str, Any]:
    try:
        return anthropic_inbound.messages_to_canonical(body, raw)
    except anthropic_inbound.InboundError as exc:
        raise ApiError(400, str(exc), "invalid_request_error", param=getattr(exc, "param", None)) from None


def answer_model(requested: str, route: str | None, slug: str | None) -> str:
    """The model-field rule, the same on every endpoint: an answer's `model` is the slug the
    app asked for; when it asked for a route, the slug that answered. The upstream's own name
    is in the `x-routecar-upstream-model` header."""
    return slug if route and slug else requested


def _responses_canonical(body: dict[str, Any], raw: bytes | None = None) -> dict[str, Any]:
    try:
        return responses_inbound.responses_to_canonical(body, raw)
    except responses_inbound.ResponsesError as exc:
        raise ApiError(400, exc.message, "invalid_request_error", param=exc.param) from None


@dataclass(frozen=True, slots=True)
class Entry:
    endpoint: str  # route-log `endpoint`: chat | embeddings | messages | responses
    protocol: str  # answer and stream shape: openai | anthropic | responses (errors: anthropic's or OpenAI's)
    canonical: Callable[..., dict[str, Any]]  # raises ApiError (400) on a bad body
    streams: bool = True
    # The provider type whose whole answers pass through as they came (bar `model`).
    native: str | None = None
    keeps_raw: bool = False  # `canonical` also takes the app's bytes (passthrough requests)

    def parse(self, body: dict[str, Any], raw: bytes) -> dict[str, Any]:
        return self.canonical(body, raw) if self.keeps_raw else self.canonical(body)

    def payload(self, answer: dict[str, Any], model: str) -> dict[str, Any]:
        """A canonical answer in this entry point's shape, its `model` set to `model`."""
        if self.protocol == "anthropic":
            return anthropic_inbound.canonical_to_message(answer, model)
        if self.protocol == "responses":
            return canonical_to_response(answer, model)
        if "model" in answer:
            answer["model"] = model
        return answer

    def passthrough(self, raw: bytes | None, protocol: str, model: str,
                    body: dict[str, Any]) -> bytes | None:
        """The upstream's own answer bytes with `model` set, when this entry point speaks the
        `protocol` the deployment answered in (providers/registry.py: answer_protocol); None:
        encode the canonical answer instead. `body` is the answer
        as parsed; on the chat entry it is `raw` itself parsed (OpenAI's shape is the canonical
        one), so when it already names `model` (the usual case) the bytes are the answer as
        they are, with no scan of them (~1 us in a loop, several in the busy server)."""
        if raw is None or protocol != self.native:
            return None
        if self.protocol == "openai" and body.get("model") == model:
            return raw
        return set_string_member(raw, "model", model)

    def encoder(self, body: dict[str, Any], model: str) -> Any:
        """The stream encoder for one request (`encode(chunk)`, `finish()`, `error(...)`)."""
        if self.protocol == "anthropic":
            return anthropic_inbound.MessagesStreamEncoder(model)
        if self.protocol == "responses":
            return ResponsesStreamEncoder(model)
        return OpenAIStreamEncoder(_wants_usage(body), model)


CHAT = Entry("chat", "openai", validate_chat, native="openai")  # OpenAI's shape is the canonical one
EMBEDDINGS = Entry("embeddings", "openai", validate_embeddings, streams=False)
MESSAGES = Entry("messages", "anthropic", _messages_canonical, native="anthropic", keeps_raw=True)
# The Responses API: errors in OpenAI's shape, answers as `response` objects and typed events.
RESPONSES = Entry("responses", "responses", _responses_canonical, native="openai", keeps_raw=True)
