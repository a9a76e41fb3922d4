"""AWS Bedrock adapter: canonical OpenAI chat <-> the Converse API.

`POST {base}/model/{modelId}/converse` and `/converse-stream`; the model id is URL-encoded
whole (ARNs and inference-profile ids hold ':' and '/'). Requests are SigV4-signed right
before sending by this module's `credentials` (providers/aws_credentials.py, botocore's chain
refreshed in the background). Stream answers are AWS event-stream frames, not SSE, so stream
requests name their framer (providers/eventstream.py). Request building lives in
`bedrock_request`, answer and stream decoding in `bedrock_stream`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson

from ..config.model import ProviderConfig
from . import canonical
from . import upstream_http as http
from .base import ChatCall, Framer, Translation, UnsupportedParam, UpstreamError, UpstreamRequest
from .bedrock_request import build_body
from .bedrock_stream import BedrockStreamDecoder, converse_to_completion
from .credentials import Credentials

# Bedrock answers errors as `{"message": ...}` (the exception name is in the x-amzn-ErrorType
# header, which error parsing does not see), so the status says the type.
_ERROR_TYPES = {
    400: "invalid_request_error",  # ValidationException
    403: "permission_error",  # AccessDeniedException
    404: "not_found_error",  # ResourceNotFoundException
    408: "timeout_error",  # ModelTimeoutException
    424: "api_error",  # ModelErrorException
    429: "rate_limit_error",  # ThrottlingException
}
_CONTEXT_MARKERS = ("too long", "too many input tokens", "context window", "context length",
                    "maximum context", "exceeds the maximum number of tokens", "input is too large")


class BedrockAdapter:
    """`clock` and `new_id` are injectable so translations are reproducible in tests."""

    type = "bedrock"

    def __init__(self, clock: canonical.Clock = canonical.DEFAULT_CLOCK,
                 new_id: canonical.IdFactory = canonical.random_id) -> None:
        self._clock = clock
        self._new_id = new_id

    def chat_request(self, call: ChatCall, notes: Translation) -> UpstreamRequest:
        out = build_body(call, notes)
        action = "converse-stream" if call.stream else "converse"
        headers = http.json_headers(call.provider, {})
        if call.stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        return UpstreamRequest(_url(call.provider, f"/model/{quote(call.upstream_model, safe='')}/{action}"),
                               headers, orjson.dumps(out), framer=_framer if call.stream else None)

    def chat_response(self, payload: bytes, upstream_model: str) -> dict[str, Any]:
        data = orjson.loads(payload)
        if not isinstance(data, dict):
            raise ValueError("response is not a Converse answer")
        return converse_to_completion(data, upstream_model, int(self._clock()), self._new_id)

    def stream_decoder(self, upstream_model: str) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(upstream_model, self._clock, self._new_id)

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str,
                           body: dict[str, Any]) -> UpstreamRequest:
        # Bedrock embeds through InvokeModel with each model family's own body, not Converse.
        raise UnsupportedParam("embeddings", "bedrock")

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise UnsupportedParam("embeddings", "bedrock")

    def parse_error(self, status: int, payload: bytes) -> UpstreamError:
        return parse_error(status, payload)

    def health_request(self, provider: ProviderConfig) -> UpstreamRequest:
        """bedrock-runtime has no models list (that is the control plane, another host), so the
        probe is its cheapest signed read, ListAsyncInvokes with one result. It needs the
        bedrock:ListAsyncInvokes permission; without it the probe fails, which changes nothing
        (open circuits then recover through their half-open request, as with checks off)."""
        return http.get_request(_url(provider, "/async-invoke?maxResults=1"), http.json_headers(provider, {}))


def _url(provider: ProviderConfig, path: str) -> str:
    return provider.base_url.rstrip("/") + path


def _framer(max_event: int) -> Framer:
    from .eventstream import EventStreamFramer  # botocore loads only for bedrock providers

    return EventStreamFramer(max_event)


def parse_error(status: int, payload: bytes) -> UpstreamError:
    """`{"message": ...}` (or `Message`), or Google/OpenAI-style `error` objects from a proxy."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    message = None
    if isinstance(data, dict):
        message = data.get("message") or data.get("Message")
    if not message:
        _, message = http.read_error(status, payload)
    message = str(message)
    if len(message) > http.MAX_ERROR_TEXT:
        message = message[:http.MAX_ERROR_TEXT] + "..."
    err_type = _ERROR_TYPES.get(status, http.status_error_type(status))
    context = status == 400 and http.mentions(message, _CONTEXT_MARKERS)
    return UpstreamError(message, err_type, None, context)


def credentials(provider: ProviderConfig) -> Credentials:
    from .aws_credentials import AwsCredentials  # botocore loads only for bedrock providers

    return AwsCredentials(provider)


ADAPTER = BedrockAdapter()
