"""The data port's entry points: how each protocol's request becomes canonical, and how an
answer goes back in that protocol (whole bodies, stream events, errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..errors import ApiError
from ..providers import anthropic_inbound
from ..providers.base import Chunk
from ..providers.sse import DONE, encode_data
from .request_parsing import validate_chat, validate_embeddings


class OpenAIStreamEncoder:
    """Canonical chunks → OpenAI SSE bytes; forwards the upstream's own bytes when it can."""

    __slots__ = ("client_wants_usage",)

    def __init__(self, client_wants_usage: bool):
        self.client_wants_usage = client_wants_usage

    def encode(self, chunk: Chunk) -> bytes:
        if not self.client_wants_usage and chunk.data.get("usage") and not chunk.data.get("choices"):
            return b""  # routecar asked for usage itself; the app did not
        return encode_data(chunk.raw if chunk.raw is not None else orjson.dumps(chunk.data))

    def finish(self) -> bytes:
        return DONE

    def error(self, message: str, error_type: str = "api_error") -> bytes:
        return encode_data(orjson.dumps({"error": {"message": message, "type": error_type, "code": "stream_broken",
                                                   "param": None}}))


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _messages_canonical(body: dict[str, Any]) -> dict[str, Any]:
    try:
        return anthropic_inbound.messages_to_canonical(body)
    except anthropic_inbound.InboundError as exc:
        raise ApiError(400, str(exc), "invalid_request_error", param=getattr(exc, "param", None)) from None


@dataclass(frozen=True, slots=True)
class Entry:
    endpoint: str  # route-log `endpoint`: chat | embeddings | messages
    protocol: str  # error and stream shape: openai | anthropic
    canonical: Callable[[dict[str, Any]], dict[str, Any]]  # raises ApiError (400) on a bad body
    streams: bool = True

    def payload(self, answer: dict[str, Any], requested_model: str) -> dict[str, Any]:
        """A canonical answer in this entry point's shape."""
        if self.protocol == "anthropic":
            return anthropic_inbound.canonical_to_message(answer, requested_model)
        return answer

    def encoder(self, body: dict[str, Any], requested_model: str) -> Any:
        """The stream encoder for one request (`encode(chunk)`, `finish()`, `error(...)`)."""
        if self.protocol == "anthropic":
            return anthropic_inbound.MessagesStreamEncoder(requested_model)
        return OpenAIStreamEncoder(_wants_usage(body))


CHAT = Entry("chat", "openai", validate_chat)  # OpenAI's shape is the canonical one
EMBEDDINGS = Entry("embeddings", "openai", validate_embeddings, streams=False)
MESSAGES = Entry("messages", "anthropic", _messages_canonical)
