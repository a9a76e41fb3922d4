"""Claude on Bedrock for apps that speak Anthropic: InvokeModel with the app's own Messages body.

A request that came in on /v1/messages for an Anthropic model on Bedrock (`anthropic.claude-...`,
an inference profile such as `us.anthropic.claude-...`, or an ARN naming one) goes to
`/model/{id}/invoke` (`/invoke-with-response-stream` for a stream) as the app wrote it: `model`
and `stream` taken out, `anthropic_version: bedrock-2023-05-31` added, and the app's
`anthropic-beta` header as the `anthropic_beta` list Bedrock reads in the body. So `cache_control`,
`thinking`, documents and fields routecar has never heard of work as on Anthropic's own API,
which Converse would not carry. The answer is Anthropic's message; a stream's event-stream
`chunk` frames each carry one Anthropic event (`{"bytes": base64(event JSON)}`), and they go back
to the app as they came. Every other request to Bedrock uses Converse (bedrock_request.py).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from .base import ChatCall, Framer, SSEEvent, UpstreamRequest

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
EVENTSTREAM = "application/vnd.amazon.eventstream"


def is_claude(upstream_model: str) -> bool:
    return "anthropic.claude" in upstream_model


def wants_invoke(call: ChatCall) -> bool:
    """Anthropic in, Claude on Bedrock: the app's own body through InvokeModel."""
    return call.body.get("_anthropic_raw") is not None and is_claude(call.upstream_model)


def invoke_request(call: ChatCall, url: str, headers: dict[str, str], framer: Framer) -> UpstreamRequest:
    """`url` is the model's `/model/{id}` URL; `framer` the event-stream framer for streams."""
    body: dict[str, Any] = orjson.loads(call.body["_anthropic_raw"].raw)
    body.pop("model", None)
    body.pop("stream", None)
    body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    beta = call.app_headers.get("anthropic-beta") if call.app_headers is not None else None
    if beta and "anthropic_beta" not in body:
        flags = [flag.strip() for flag in beta.split(",") if flag.strip()]
        if flags:
            body["anthropic_beta"] = flags
    if call.stream:
        headers["accept"] = EVENTSTREAM
        # A cascade fetches a whole answer even for a streaming app: then nothing passes through.
        native = bool(call.body.get("stream"))
        return UpstreamRequest(url + "/invoke-with-response-stream", headers, orjson.dumps(body), framer=framer,
                               native_events=native)
    headers["accept"] = "application/json"
    return UpstreamRequest(url + "/invoke", headers, orjson.dumps(body))


def unwrap_chunk(event: SSEEvent) -> SSEEvent:
    """A `chunk` frame's Anthropic event, as an SSE event named by its type; ValueError (the
    dispatcher calls it malformed) when the frame does not hold one."""
    data = orjson.loads(event.data)
    encoded = data.get("bytes") if isinstance(data, dict) else None
    if not isinstance(encoded, str):
        raise ValueError("chunk frame has no 'bytes'")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("chunk frame's 'bytes' is not base64") from None
    inner = orjson.loads(raw)
    kind = inner.get("type") if isinstance(inner, dict) else None
    return SSEEvent(raw, kind if isinstance(kind, str) else None)
