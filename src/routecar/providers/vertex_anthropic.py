"""Claude on Vertex AI: Anthropic's Messages API at Vertex's URLs, with Google's tokens.

`{base}/v1/projects/{project}/locations/{location}/publishers/anthropic/models/{model}:rawPredict`
(`:streamRawPredict` for streams) takes the Messages body without `model` and with
`anthropic_version: vertex-2023-10-16`; answers, stream events and error bodies are Anthropic's.
A request that came in on /v1/messages is sent as the app wrote it (cache_control, thinking,
documents kept), only `model` taken out, and its answer or stream events go back as they came
(providers/registry.py: answer_protocol); any other is translated as for `type: anthropic`.
The vertex adapter sends a deployment here when its model is a Claude model (`claude-...`).
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from ..config.model import ProviderConfig
from .anthropic import DEFAULT_MAX_TOKENS
from .anthropic_request import build_body
from .base import ChatCall, Translation, UpstreamRequest

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


def is_claude(model: str) -> bool:
    return model.removeprefix("models/").startswith("claude")


def chat_request(call: ChatCall, notes: Translation, url: Callable[[ProviderConfig, str, str], str],
                 headers: dict[str, str]) -> UpstreamRequest:
    """`url(provider, model, method)` is the vertex adapter's, pointed at the anthropic publisher."""
    passthrough = call.body.get("_anthropic_raw")
    # The app's own Anthropic events go back to it as they came (thinking signatures, citations),
    # as with an Anthropic upstream; not for a cascade fetching a whole answer of a stream.
    native = passthrough is not None and call.stream and bool(call.body.get("stream"))
    if passthrough is not None:
        body: dict[str, Any] = orjson.loads(passthrough.raw)
        body.pop("stream", None)
    else:
        body = build_body(call, notes, call.default_max_tokens or DEFAULT_MAX_TOKENS)
    body.pop("model", None)
    body["anthropic_version"] = VERTEX_ANTHROPIC_VERSION
    if call.stream:
        body["stream"] = True
        headers["accept"] = "text/event-stream"
    method = ":streamRawPredict" if call.stream else ":rawPredict"
    return UpstreamRequest(url(call.provider, call.upstream_model, method), headers, orjson.dumps(body),
                           native_events=native)


def is_anthropic_error(payload: bytes) -> bool:
    """Anthropic's error shape (`{"type": "error", "error": {...}}`), not Google's."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and data.get("type") == "error"
