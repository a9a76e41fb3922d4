"""One attempt on one candidate: the wire request from its provider's adapter, sent through
its provider's pool, the answer as a value. No policy here (which candidate, whether to fail
over, what health thinks): that is the dispatcher's. Tests of the dispatcher replace this
with a scripted stand-in, so every failover path runs without a network.
"""

from __future__ import annotations

from typing import Awaitable, Mapping, Protocol

from ..config.model import Config
from ..http1 import DeadlineTicker, Pool
from ..providers.base import Adapter, ChatCall, Translation, UpstreamRequest
from ..providers.credentials import Credentials, NoCredentials
from ..providers.forwarding import forward_app_headers
from ..router.plan import Candidate
from .attempt import OpenedStream, call_unary, open_stream
from .values import AttemptFailure, DispatchRequest, UnaryAnswer

AttemptResult = UnaryAnswer | OpenedStream | AttemptFailure


class Prepared:
    """A wire request ready to send, the parameters the adapter dropped to make it, and the
    span id its traceparent names (None when no trace is propagated)."""

    __slots__ = ("wire", "dropped", "span_id")

    def __init__(self, wire: UpstreamRequest, dropped: list[str], span_id: str | None = None):
        self.wire = wire
        self.dropped = dropped
        self.span_id = span_id


class Caller(Protocol):
    def prepare(self, cand: Candidate, request: DispatchRequest) -> Prepared:
        """The wire request; raises UnsupportedParam when the provider cannot take it."""

    def call(self, cand: Candidate, prepared: Prepared, request: DispatchRequest,
             deadline: float) -> Awaitable[AttemptResult]:
        """Send it; a stream comes back once its first content chunk is in."""


class UpstreamCaller:
    """The real Caller: adapters and keep-alive pools of one config generation."""

    def __init__(self, config: Config, pools: Mapping[str, Pool], adapters: Mapping[str, Adapter],
                 ticker: DeadlineTicker, credentials: Mapping[str, Credentials] | None = None):
        self.config = config
        self.pools = pools
        self.adapters = adapters
        self.ticker = ticker  # finds the attempts' deadlines due
        # Cloud providers' refreshed credentials by provider name (providers/credentials.py).
        self.credentials = credentials or {}

    def prepare(self, cand: Candidate, request: DispatchRequest) -> Prepared:
        dep = cand.deployment
        provider = self.config.providers[dep.provider]
        adapter = self.adapters[provider.type]
        dropped: list[str] = []
        if request.endpoint == "embeddings":
            wire = adapter.embeddings_request(provider, dep.model, request.body)  # type: ignore[arg-type]
        elif request.endpoint == "count_tokens":  # planned on Anthropic deployments only
            wire = adapter.count_tokens_request(provider, dep.model, request.body)  # type: ignore[attr-defined]
        else:
            notes = Translation()
            call = ChatCall(provider, dep.model, request.body, request.stream,  # type: ignore[arg-type]
                            cand.model.max_output_tokens, request.headers)
            wire = adapter.chat_request(call, notes)
            dropped = notes.dropped_params
        if provider.forward_headers and request.headers:
            forward_app_headers(wire.headers, provider.forward_headers, request.headers)
        span_id = None
        if request.trace is not None:  # after forward_headers: our span, not the app's, is the parent
            span_id, trace_headers = request.trace.attempt_headers()
            wire.headers.update(trace_headers)
        return Prepared(wire, dropped, span_id)

    def call(self, cand: Candidate, prepared: Prepared, request: DispatchRequest,
             deadline: float) -> Awaitable[AttemptResult]:
        """The attempt's coroutine itself (not one wrapping it: one frame fewer per await)."""
        dep = cand.deployment
        provider = self.config.providers[dep.provider]
        adapter = self.adapters[provider.type]
        pool = self.pools[dep.provider]
        limits = self.config.server
        creds = self.credentials.get(dep.provider)
        if creds is not None:
            # The last step before sending: a SigV4 signature covers the final headers and body.
            try:
                creds.apply(prepared.wire)
            except NoCredentials as exc:
                return _failed(AttemptFailure("no_credentials", detail=str(exc)))
        if request.stream:
            return open_stream(pool, prepared.wire, adapter, dep.model, provider.timeouts, deadline,
                               limits.max_event_bytes, self.ticker)
        if request.endpoint == "embeddings":
            body = request.body

            def parse(payload: bytes) -> dict:
                return adapter.embeddings_response(payload, dep.model, request_body=body)  # type: ignore[arg-type]
        elif request.endpoint == "count_tokens":
            parse = adapter.count_tokens_response  # type: ignore[attr-defined]
        else:
            def parse(payload: bytes) -> dict:
                return adapter.chat_response(payload, dep.model)
        return call_unary(pool, prepared.wire, parse, adapter, provider.timeouts, deadline,
                          limits.max_response_bytes, self.ticker)


async def _failed(failure: AttemptFailure) -> AttemptFailure:
    return failure
