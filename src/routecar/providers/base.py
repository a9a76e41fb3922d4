"""The provider adapter seam: one adapter per wire protocol.

Inside routecar the canonical request and response are OpenAI Chat Completions dicts (the
protocol every app and most providers already speak). An adapter turns a canonical request
into its provider's wire request and the provider's answers (whole bodies or stream events)
back into canonical dicts. Adapters are pure: no I/O, no awaits; the dispatcher owns the
network. Adding a protocol touches only this folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Protocol

from ..config.model import ProviderConfig


class ChatCall(NamedTuple):
    """A canonical chat request addressed to one deployment: what an adapter translates."""

    provider: ProviderConfig
    upstream_model: str
    body: dict[str, Any]  # canonical; adapters never mutate it
    stream: bool
    # The catalog's max_output_tokens, for protocols that want a limit when the app gave none.
    default_max_tokens: int | None = None
    # The app's request headers (lower-case names), for protocols that carry one in the body:
    # Bedrock's InvokeModel takes Anthropic's beta flags as `anthropic_beta`, not as a header.
    app_headers: Mapping[str, str] | None = None


@dataclass(slots=True)
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"
    # A passthrough stream: the adapter's decoder is made with `native=True`, so every upstream
    # event reaches the app as it came (see Chunk.event).
    native_events: bool = False
    # How a stream answer's bytes split into events, made with `server.max_event_bytes`; None
    # for server-sent events (sse.SSEParser). Bedrock's AWS event-stream frames bring their own.
    framer: Callable[[int], "Framer"] | None = None


@dataclass(slots=True)
class SSEEvent:
    """One server-sent event: `event:` name (None when absent) and the joined `data:` bytes."""

    data: bytes
    event: str | None = None


@dataclass(slots=True)
class Chunk:
    """One canonical stream chunk (an OpenAI `chat.completion.chunk` dict).

    `raw` holds the upstream's own JSON bytes when no translation happened, so the OpenAI entry
    point forwards them untouched instead of re-serializing.

    `event` is the upstream's own event for protocols whose events do not map one to one onto
    chunks (Anthropic): an entry point speaking that protocol forwards it as it came (thinking,
    signatures, citations and pings included) and ignores `data`. Such a decoder emits at least
    one chunk per event (an empty `data` when the event has no canonical form).
    """

    data: dict[str, Any]
    raw: bytes | None = None
    event: SSEEvent | None = None

    @property
    def has_content(self) -> bool:
        """True once the chunk carries something the app must see (not an empty preamble)."""
        for choice in self.data.get("choices") or ():
            if choice.get("finish_reason"):
                return True
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls") or delta.get("refusal"):
                return True
            if delta.get("function_call") or delta.get("reasoning_content"):
                return True
        return False

    @property
    def usage(self) -> dict[str, Any] | None:
        return self.data.get("usage")


class UpstreamStreamError(Exception):
    """An error reported inside an upstream stream (e.g. Anthropic's `error` event)."""

    def __init__(self, message: str, error_type: str = "api_error", retryable: bool = True):
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable


@dataclass(slots=True)
class UpstreamError:
    """What an upstream error body said, in canonical terms."""

    message: str
    type: str = "upstream_error"
    code: str | None = None
    context_length: bool = False  # the prompt did not fit: move to a larger window
    # The status the failure is handled as when the provider's status misleads: Bedrock answers
    # a quota refusal (ServiceQuotaExceededException) with 400, which is a 429 for failover,
    # health and the route log's error class (the row keeps the status that came).
    counts_as: int | None = None


@dataclass(slots=True)
class Translation:
    """Request-side notes from an adapter, e.g. parameters it dropped."""

    dropped_params: list[str] = field(default_factory=list)


class UnsupportedParam(Exception):
    """A request parameter this provider cannot take (answered as 400 naming it)."""

    def __init__(self, param: str, provider_type: str):
        super().__init__(f"parameter '{param}' is not supported by {provider_type} providers")
        self.param = param


class StreamFramingError(ValueError):
    """Stream bytes that break the framing (an event over the size budget, a bad checksum):
    the dispatcher calls the stream malformed."""


class Framer(Protocol):
    """Splits a stream answer's bytes into events, holding at most one event's bytes."""

    def accepts(self, content_type: str) -> bool:
        """Whether an answer of this content type is a stream of this framing."""

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Every event `data` completes; raises StreamFramingError."""

    def flush(self) -> list[SSEEvent]:
        """At the end of the body: what is left that still makes an event."""


class StreamDecoder(Protocol):
    def feed(self, event: SSEEvent) -> list[Chunk]:
        """Translate one upstream event into zero or more canonical chunks.

        Raises UpstreamStreamError for an in-stream error event, and ValueError for an event
        that is not what the protocol promises (the dispatcher calls the stream malformed).
        """

    @property
    def done(self) -> bool:
        """True once the upstream said the stream is complete (`[DONE]`, `message_stop`, ...)."""


class Adapter(Protocol):
    type: str

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        """Build the wire request; parameters dropped on the way are added to `notes`.

        Raises UnsupportedParam for a request the protocol cannot express.
        """

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        """Turn a whole (non-streaming) success body into a canonical `chat.completion` dict.

        Raises ValueError on a body that is not what the protocol promises.
        """

    def stream_decoder(self, upstream_model: str) -> StreamDecoder: ...

    def embeddings_request(
        self, provider: ProviderConfig, upstream_model: str, body: dict[str, Any]
    ) -> UpstreamRequest: ...

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """`request_body` lets protocols that report no usage (Gemini) estimate it."""

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        """An error answer in canonical terms; `headers` for protocols that name the error
        there (Bedrock's x-amzn-ErrorType)."""

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        """A cheap authenticated GET (the provider's models list) for active health checks of
        open circuits; a 2xx answer means the provider answers with this key."""
