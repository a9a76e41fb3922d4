"""Data-plane endpoints: one pipeline, three entry points (SPEC §3).

parse → route (pure) → dispatch (network) → answer in the entry point's protocol → one
route-log row. The route-log row and the metrics are written for every request, rejected and
cancelled ones included, from the `finally` of the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Awaitable, Callable

import orjson
from ..http1.server import Request, Response, StreamResponse

from ..dispatch.dispatcher import Attempts, DispatchError, Success
from ..providers import anthropic_inbound
from ..providers.base import UnsupportedParam
from ..router.cost import actual_cost, build_routing_request
from ..router.plan import Plan, RoutingError
from ..routelog.record import RouteRecord
from .errors import JSON, ApiError, error_response
from .features import RoutingFeatures, features_of
from .keys import RUNTIME
from ..observability.jsonlog import log_request
from .request_parsing import (parse_tags, parse_timeout_ms, read_json, request_id_of, validate_chat,
                              validate_embeddings)
from .routing_features import gate_budget, replay, run_plan, settle, step_first
from .runtime import Runtime
from .streaming import OpenAIStreamEncoder, pipe_stream

log = logging.getLogger("routecar.server")


@dataclass(frozen=True, slots=True)
class Entry:
    endpoint: str  # route-log `endpoint`: chat | embeddings | messages
    protocol: str  # error and stream shape: openai | anthropic


CHAT = Entry("chat", "openai")
EMBEDDINGS = Entry("embeddings", "openai")
MESSAGES = Entry("messages", "anthropic")


async def list_models(request: Request) -> Response:
    rt: Runtime = request.app[RUNTIME]
    cfg = rt.snapshot.config
    data = [{"id": slug, "object": "model", "created": 0, "owned_by": "routecar"} for slug in cfg.models]
    data += [{"id": name, "object": "model", "created": 0, "owned_by": "routecar-route"} for name in cfg.routes]
    return Response(200, orjson.dumps({"object": "list", "data": data}), content_type=JSON)


def _to_canonical(entry: Entry, body: dict[str, Any]) -> dict[str, Any]:
    if entry is MESSAGES:
        try:
            return anthropic_inbound.messages_to_canonical(body)
        except anthropic_inbound.InboundError as exc:
            raise ApiError(400, str(exc), "invalid_request_error", param=getattr(exc, "param", None)) from None
    if entry is EMBEDDINGS:
        validate_embeddings(body)
    else:
        validate_chat(body)
    return body


async def _serve(request: Request, entry: Entry) -> StreamResponse:
    started = time.perf_counter()
    rt: Runtime = request.app[RUNTIME]
    snap = rt.snapshot  # this request's config, to the end, whatever reloads happen meanwhile
    rid = request_id_of(request.headers.get("x-routecar-request-id"))
    record = RouteRecord(ts=time.time(), request_id=rid, endpoint=entry.endpoint, config_hash=snap.config.hash)
    headers = {"x-routecar-request-id": record.request_id}
    attempts = Attempts()
    usage: dict[str, Any] = {}
    plan: Plan | None = None
    success: Success | None = None
    features: RoutingFeatures | None = None
    rt.request_started()
    try:
        if rt.draining:
            raise ApiError(503, "routecar is shutting down; retry on another instance.", "draining",
                           "service_unavailable", outcome="upstream_error", retry_after=1)
        cfg = snap.config
        # Tags first, so even a request rejected for its body is attributed in its row.
        record.tags = parse_tags(request.headers.get("x-routecar-tags"))
        features = await features_of(rt)
        router = features.router_for(snap, rt.health)
        body = _to_canonical(entry, await read_json(request, cfg.server.max_body_bytes))
        record.requested_model = str(body.get("model"))
        stream = bool(body.get("stream")) and entry is not EMBEDDINGS
        record.stream = stream
        timeout = parse_timeout_ms(request.headers.get("x-routecar-timeout-ms"), cfg.server.default_timeout)
        # On the event loop's clock: asyncio's is time.monotonic() itself, uvloop's the same
        # clock in whole milliseconds (so at most ~1 ms behind: never an earlier deadline).
        # Read directly: get_running_loop() costs a getpid() syscall per call on 3.11.
        deadline = time.monotonic() + timeout
        routing = build_routing_request(entry.endpoint if entry is not MESSAGES else "chat", body, record.tags)
        content = None
        if snap.content:
            from . import content_stage  # loaded on the first request of a config that classifies or caches

            content = content_stage.begin(rt, snap, routing, request.headers, deadline, attempts)
        if content is not None:
            await content.classify(record)
        try:
            plan = router.plan(routing)
            plan, over_budget = gate_budget(features, router, cfg, routing, plan, record.tags, time.time())
        except RoutingError as exc:
            raise ApiError(exc.status, str(exc), exc.code, exc.error_type,
                           param="model" if exc.status == 404 else None) from None
        _record_plan(record, plan)
        if over_budget is not None:
            raise over_budget
        if cfg.route_log.record_prompts:
            record.prompt = body.get("messages") or body.get("input")
        if content is not None:
            cached = await content.serve_cached(request, plan, record, headers, started, entry.protocol)
            if cached is not None:
                return cached
        try:
            result = await run_plan(snap.dispatcher, plan, body, entry.endpoint if entry is EMBEDDINGS else "chat",
                                    stream, deadline, routing.est_prompt_tokens, attempts)
        except UnsupportedParam as exc:
            raise ApiError(400, str(exc), "unsupported_parameter", param=exc.param) from None
        _record_attempts(record, attempts, plan)
        headers["x-routecar-attempts"] = str(len(attempts.log))
        if plan.route:
            headers["x-routecar-route"] = plan.route
        if isinstance(result, DispatchError):
            raise ApiError(result.status, result.message, result.code, result.error_type,
                           outcome=result.outcome, retry_after=result.retry_after)
        success = result
        _record_success(record, plan, success, headers, attempts)

        def on_prepare() -> None:
            record.overhead_ms = round(_overhead(started, attempts, streaming=True), 3)
            headers["x-routecar-overhead-ms"] = _fmt_ms(record.overhead_ms)

        if success.stream is not None:
            record.status = 200
            record.materialize()  # the stream marks its last attempt's error in attempt_log
            return await pipe_stream(request, success, _stream_encoder(entry, body, record), record, headers,
                                     rt.health, started, on_prepare, usage)
        answer = success.answer
        assert answer is not None
        usage.update(answer.body.get("usage") or {})
        record.prompt_tokens = usage.get("prompt_tokens")
        record.completion_tokens = usage.get("completion_tokens")
        cost = actual_cost(success.candidate.model, usage) + attempts.extra_cost if usage else None
        record.cost_usd = cost
        if content is not None:
            content.store(success, answer.body, cost)
        if stream:  # a cascade step's checked answer: replayed, since it was fetched whole
            record.status = 200
            return await replay(request, answer.body, _stream_encoder(entry, body, record), record, headers,
                                started, on_prepare)
        if cost is not None:
            headers["x-routecar-cost-usd"] = f"{cost:.8f}"
        payload = answer.body if entry is not MESSAGES else anthropic_inbound.canonical_to_message(
            answer.body, record.requested_model or "")
        if cfg.route_log.record_prompts:
            record.response = payload
        record.status = 200
        record.outcome = "ok"
        # OpenAI in, OpenAI out: the upstream's bytes are the answer (parsed above only for
        # usage and cost); serializing them again would only cost time.
        raw = answer.raw if entry is CHAT and cfg.providers[success.candidate.deployment.provider].type == "openai" \
            else None
        out = raw if raw is not None else orjson.dumps(payload)
        record.overhead_ms = round(_overhead(started, attempts, streaming=False), 3)
        headers["x-routecar-overhead-ms"] = _fmt_ms(record.overhead_ms)
        return Response(200, out, headers, content_type=JSON)
    except ApiError as err:
        record.status = err.status
        record.outcome = err.outcome
        record.error_message = err.message
        if plan is not None:
            _record_attempts(record, attempts, plan)
        return error_response(err, entry.protocol, headers)
    except asyncio.CancelledError:
        record.status = 499
        record.outcome = "client_cancelled"
        record.error_message = "the app closed the connection"
        if plan is not None:
            _record_attempts(record, attempts, plan)
        raise
    except Exception:  # a bug of ours: log it, answer a clean 500, never a traceback
        log.exception("internal error", extra={"request_id": record.request_id})
        record.status = 500
        record.outcome = "upstream_error"
        record.error_message = "internal error in routecar"
        err = ApiError(500, "routecar hit an internal error; the request was not completed.", "internal_error",
                       "server_error")
        return error_response(err, entry.protocol, headers)
    finally:
        _finish(rt, record, started, success, usage, attempts)
        if features is not None:
            settle(features, snap.config, plan, record, record.tags, time.time())


# Partials rather than `async def` wrappers: a wrapper coroutine would sit in the await chain
# and be resumed with `_serve` at every suspension of every request.
chat_completions: Callable[[Request], Awaitable[StreamResponse]] = partial(_serve, entry=CHAT)
embeddings: Callable[[Request], Awaitable[StreamResponse]] = partial(_serve, entry=EMBEDDINGS)
messages: Callable[[Request], Awaitable[StreamResponse]] = partial(_serve, entry=MESSAGES)


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _stream_encoder(entry: Entry, body: dict[str, Any], record: RouteRecord) -> Any:
    if entry.protocol == "openai":
        return OpenAIStreamEncoder(_wants_usage(body))
    return anthropic_inbound.MessagesStreamEncoder(record.requested_model or "")


def _record_plan(record: RouteRecord, plan: Plan) -> None:
    record.route = plan.route
    record.strategy = plan.strategy
    record.reason = plan.reason
    record.shadow_model = plan.shadow_model
    record.est_cost_usd = plan.est_cost_usd
    record.canary = plan.canary
    record.defer_plan(plan)  # candidates, rules_matched, skipped: built by the writer


def _record_attempts(record: RouteRecord, attempts: Attempts, plan: Plan) -> None:
    record.attempts = len(attempts.log)
    record.escalations = len(attempts.escalations)
    if attempts.log and record.provider is None:
        # A request that failed everywhere is still attributed to where it last went, so
        # `logs --errors --where provider=X` finds the total failures `stats --by provider` counts.
        last = attempts.log[-1]
        record.provider = last.provider
        record.upstream_model = last.model
        record.chosen_model = last.slug
    # The skips' `retry_at` come from health admissions, on the health registry's clock
    # (time.monotonic), and are made relative to now; read only when there is one.
    now = time.monotonic() if attempts.skipped else 0.0
    record.defer_attempts(attempts, plan, now)  # attempt_log, skipped: built by the writer


def _record_success(record: RouteRecord, plan: Plan, success: Success, headers: dict[str, str],
                    attempts: Attempts) -> None:
    cand = success.candidate
    record.chosen_model = cand.slug
    record.provider = cand.deployment.provider
    record.upstream_model = cand.deployment.model
    # In a cascade, a later step answering is an escalation; only a step's own fallback fails over.
    record.fallback = cand.slug != (step_first(plan, cand.step) if plan.cascade else plan.candidates[0].slug)
    if attempts.escalations:
        record.reason = (f"{plan.reason}; escalated: {'; '.join(attempts.escalations)}; answered by "
                         f"{cand.slug} (step {cand.step})" + (" after failover" if record.fallback else ""))
    elif record.fallback:
        record.reason = f"{plan.reason}; answered by {cand.slug} ({cand.reason}) after failover"
    headers["x-routecar-model"] = cand.slug
    headers["x-routecar-provider"] = cand.deployment.provider
    if attempts.dropped_params:
        headers["x-routecar-dropped-params"] = ",".join(attempts.dropped_params)


def _overhead(started: float, attempts: Attempts, streaming: bool) -> float:
    elapsed = time.perf_counter() - started
    log = attempts.log
    total = 0  # summed as sum() would, without a generator per request
    for a in log:
        total += a.latency_ms
    upstream = total / 1000
    if streaming and log and log[-1].ttft_ms is not None:
        # the committed attempt's time counts up to its first content chunk
        upstream += (log[-1].ttft_ms - log[-1].latency_ms) / 1000
    return max(0.0, elapsed - upstream - attempts.queue_wait - attempts.slept) * 1000


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3f}"


def _finish(rt: Runtime, record: RouteRecord, started: float, success: Success | None,
            usage: dict[str, Any], attempts: Attempts) -> None:
    try:
        record.latency_ms = (time.perf_counter() - started) * 1000
        if success is not None and success.stream is not None:
            record.prompt_tokens = usage.get("prompt_tokens")
            record.completion_tokens = usage.get("completion_tokens")
            if usage:
                record.cost_usd = actual_cost(success.candidate.model, usage) + attempts.extra_cost
            # Built now (not by the writer) so the patch lands on the list the row stores, also
            # when a cancelled stream had its attempts recorded again after it was built.
            record.materialize()
            if record.attempt_log and record.attempt_log[-1].get("error") is None:
                record.attempt_log[-1]["latency_ms"] = round(record.latency_ms, 2)
        if record.overhead_ms is None:
            record.overhead_ms = round(_overhead(started, attempts, streaming=False), 3)
        rt.writer.submit(record)
        rt.metrics.observe(record)
        if rt.snapshot.config.server.log_requests:

            log_request(record)
    finally:
        rt.request_finished()
