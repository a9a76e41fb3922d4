"""AWS Bedrock adapter: canonical OpenAI chat <-> the Converse API.

`POST {base}/model/{modelId}/converse` and `/converse-stream`; the model id is URL-encoded
whole (ARNs and inference-profile ids hold ':' and '/'). Requests are SigV4-signed right
before sending by this module's `credentials` (providers/aws_credentials.py, botocore's chain
refreshed in the background). Stream answers are AWS event-stream frames, not SSE, so stream
requests name their framer (providers/eventstream.py). Request building lives in
`bedrock_request`, answer and stream decoding in `bedrock_stream`.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote

import orjson

from ..config.model import ProviderConfig
from . import bedrock_anthropic as claude
from . import bedrock_embeddings as embeddings
from . import canonical
from . import upstream_http as http
from .base import ChatCall, Framer, Translation, UpstreamError, UpstreamRequest
from .anthropic import message_to_completion
from .bedrock_request import build_body
from .bedrock_stream import BedrockStreamDecoder, converse_to_completion
from .credentials import Credentials

# Bedrock answers errors as `{"message": ...}` and names the exception in the x-amzn-ErrorType
# header (`ThrottlingException:http://internal.amazon.com/...`); a proxy in between may drop it,
# so the status alone still gives a type.
_ERROR_TYPES = {
    400: "invalid_request_error",  # ValidationException
    403: "permission_error",  # AccessDeniedException
    404: "not_found_error",  # ResourceNotFoundException
    408: "timeout_error",  # ModelTimeoutException
    424: "api_error",  # ModelErrorException
    429: "rate_limit_error",  # ThrottlingException, ModelNotReadyException
}
# Exceptions whose status misleads failover: (canonical type, the status they are handled as).
# A quota refusal comes as 400 but is the account's rate, not the request's fault; a model that
# timed out (408) or failed inside (424) may well answer on another deployment.
_EXCEPTIONS = {
    "ServiceQuotaExceededException": ("rate_limit_error", 429),
    "ThrottlingException": ("rate_limit_error", 429),
    "ModelNotReadyException": ("rate_limit_error", 429),
    "ModelTimeoutException": ("timeout_error", 504),
    "ModelErrorException": ("api_error", 502),
    "ServiceUnavailableException": ("api_error", 503),
    "InternalServerException": ("api_error", 500),
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
        if claude.wants_invoke(call):
            return claude.invoke_request(call, _url(call.provider, f"/model/{quote(call.upstream_model, safe='')}"),
                                         http.json_headers(call.provider, {}), _framer)
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
        if data.get("type") == "message":  # InvokeModel's answer for an Anthropic app (bedrock_anthropic.py)
            if not isinstance(data.get("content"), list):
                raise ValueError("response is not an Anthropic message (no 'content' list)")
            return message_to_completion(data, upstream_model, int(self._clock()))
        return converse_to_completion(data, upstream_model, int(self._clock()), self._new_id)

    def stream_decoder(self, upstream_model: str, native: bool = False) -> BedrockStreamDecoder:
        """`native`: an InvokeModel stream whose Anthropic events pass through to the app."""
        return BedrockStreamDecoder(upstream_model, self._clock, self._new_id, native)

    def embeddings_request(self, provider: ProviderConfig, upstream_model: str,
                           body: dict[str, Any]) -> UpstreamRequest:
        """InvokeModel with the model family's own body (providers/bedrock_embeddings.py)."""
        headers = http.json_headers(provider, {})
        headers["accept"] = "application/json"
        return UpstreamRequest(_url(provider, f"/model/{quote(upstream_model, safe='')}/invoke"), headers,
                               orjson.dumps(embeddings.request_body(upstream_model, body)))

    def embeddings_response(
        self, payload: bytes, upstream_model: str, *, request_body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return embeddings.to_openai(orjson.loads(payload), upstream_model, request_body)

    def parse_error(self, status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
        return parse_error(status, payload, headers)

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


def parse_error(status: int, payload: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
    """`{"message": ...}` (or `Message`), or Google/OpenAI-style `error` objects from a proxy;
    the exception's name from x-amzn-ErrorType, or `__type` in the body."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    message = None
    exception = _exception_name(headers.get("x-amzn-errortype") if headers is not None else None)
    if isinstance(data, dict):
        message = data.get("message") or data.get("Message")
        if exception is None and isinstance(data.get("__type"), str):
            exception = _exception_name(data["__type"].rpartition("#")[2])
    if not message:
        _, message = http.read_error(status, payload)
    message = str(message)
    if exception is not None and not message.startswith(exception):
        message = f"{exception}: {message}"
    if len(message) > http.MAX_ERROR_TEXT:
        message = message[:http.MAX_ERROR_TEXT] + "..."
    by_status = (_ERROR_TYPES.get(status, http.status_error_type(status)), None)
    err_type, counts_as = _EXCEPTIONS.get(exception or "", by_status)
    if counts_as == status:
        counts_as = None
    context = status == 400 and counts_as is None and http.mentions(message, _CONTEXT_MARKERS)
    return UpstreamError(message, err_type, exception, context, counts_as)


def _exception_name(value: str | None) -> str | None:
    """`ThrottlingException:http://internal.amazon.com/coral/...` -> `ThrottlingException`;
    anything that is not a plain name (a proxy's garbage) -> None."""
    if not value:
        return None
    name = value.partition(":")[0].strip()
    return name if 0 < len(name) <= 64 and name.isascii() and name.isalnum() else None


def credentials(provider: ProviderConfig) -> Credentials:
    from .aws_credentials import AwsCredentials  # botocore loads only for bedrock providers

    return AwsCredentials(provider)


ADAPTER = BedrockAdapter()
