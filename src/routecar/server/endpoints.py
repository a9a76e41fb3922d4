"""Data-plane endpoints (docs/http-api.md): thin adapters around one pipeline.

    parse the protocol into the canonical request → the generation's pipeline (stages, plan,
    execute) → encode the answer in the protocol's shape → one route-log row

Every request, rejected and cancelled ones included, leaves exactly one row and one metrics
observation, from the `finally` of `_serve`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from urllib.parse import unquote
from typing import Awaitable, Callable

import orjson

from ..errors import ApiError
from ..http1.server import Request, Response, StreamResponse
from ..providers.registry import answer_protocol
from ..router.cost import build_routing_request, requested_output_tokens
from ..router.router import unknown_model
from ..routelog.record import RouteRecord
from ..stages.exchange import Exchange
from ..telemetry.traceparent import start_trace
from . import answers
from .entries import CHAT, EMBEDDINGS, MESSAGES, RESPONSES, Entry, answer_model
from .errors import JSON, error_response
from .keys import RUNTIME
from .request_parsing import new_request_id, parse_tags, parse_timeout_ms, read_json, request_id_of
from .row import record_answerer, record_inputs, record_plan, record_usage
from .runtime import Generation, Runtime

log = logging.getLogger("routecar.server")


async def _serve(request: Request, entry: Entry) -> Response | StreamResponse:
    rt: Runtime = request.app[RUNTIME]
    gen = rt.generation  # this request's config, to the end, whatever reloads happen meanwhile
    given_id = request.headers.get("x-routecar-request-id")
    record = RouteRecord(time.time(), request_id_of(given_id) if given_id else new_request_id(), entry.endpoint,
                         config_hash=gen.config.hash)
    if rt.trace_ratio is not None:  # spans are exported: this request's trace is decided now
        record.trace = start_trace(request.headers.get("traceparent"), request.headers.get("tracestate"),
                                   rt.trace_ratio)
    ex = Exchange(record, time.perf_counter(), request.headers)
    rt.request_started()
    try:
        _parse(request, entry, gen, ex, rt.draining)
        await gen.pipeline.run(ex)  # stages → plan → execute
        return await _answer(request, entry, gen, ex, rt)
    except ApiError as err:
        return _fail(ex, entry, err)
    except asyncio.CancelledError:
        record.status, record.outcome = 499, "client_cancelled"
        record.error_message = "the app closed the connection"
        raise
    except Exception:  # a bug of ours: log it, answer a clean 500, never a traceback
        log.exception("internal error", extra={"request_id": record.request_id})
        record.error_message = "internal error in routecar"
        return _fail(ex, entry, ApiError(500, "routecar hit an internal error; the request was not completed.",
                                         "internal_error", "server_error", outcome="upstream_error"))
    finally:
        rt.finish(gen, ex)


def _parse(request: Request, entry: Entry, gen: Generation, ex: Exchange, draining: bool) -> None:
    """The canonical request, its deadline and the router's input; ApiError (400/413) if bad."""
    if draining:
        raise ApiError(503, "routecar is shutting down; retry on another instance.", "draining",
                       "service_unavailable", outcome="upstream_error", retry_after=1)
    cfg, record, headers = gen.config, ex.record, request.headers
    # Tags first, so even a request rejected for its body is attributed in its row.
    tags = headers.get("x-routecar-tags")
    if tags is not None:
        record.tags = parse_tags(tags)
    ex.body = body = entry.parse(read_json(request, cfg.server.max_body_bytes), request.body)
    model = body.get("model")
    record.requested_model = model if type(model) is str else str(model)
    record.stream = entry.streams and bool(body.get("stream"))
    timeout = headers.get("x-routecar-timeout-ms")
    ex.deadline = time.monotonic() + (cfg.server.default_timeout if timeout is None else
                                      parse_timeout_ms(timeout))  # the dispatcher's and health's clock
    ex.routing = build_routing_request("embeddings" if entry is EMBEDDINGS else "chat", body, record.tags)
    record_inputs(record, ex.routing)
    if cfg.route_log.record_prompts:
        record.prompt = body.get("messages") or body.get("input")
    if record.trace is not None:  # the request span's gen_ai.request.max_tokens
        record.max_tokens = requested_output_tokens(body)


async def _answer(request: Request, entry: Entry, gen: Generation, ex: Exchange,
                  rt: Runtime) -> Response | StreamResponse:
    record, plan, headers = ex.record, ex.plan, ex.answer_headers
    assert plan is not None
    record_plan(record, plan)
    if plan.route:
        headers["x-routecar-route"] = plan.route
    record_prompts = gen.config.route_log.record_prompts
    requested = record.requested_model or ""
    stored = ex.stored
    if stored is not None:  # a stage answered (a cache hit)
        record.chosen_model, record.upstream_model = stored.slug or None, stored.upstream_model
        record.est_cost_usd = stored.saved_usd if stored.saved_usd is not None else plan.est_cost_usd
        record.reason = (f"{stored.kind.replace('_', ' ')}: answer stored {stored.age_s:.1f}s ago, produced by "
                         f"{stored.slug} via {stored.provider}; the plan was {plan.reason}")
        headers.update({"x-routecar-model": stored.slug, "x-routecar-provider": stored.provider,
                        "x-routecar-attempts": "0"})
        if stored.upstream_model:
            headers["x-routecar-upstream-model"] = stored.upstream_model
        model = answer_model(requested, plan.route, stored.slug)
        record_usage(ex, None)
        if record.stream:
            return await answers.replayed(request, ex, entry, stored.body, model)
        return answers.whole(ex, entry, stored.body, None, record.cost_usd or 0.0, record_prompts, model)
    outcome = ex.outcome
    assert outcome is not None
    record_answerer(record, plan, outcome)
    headers["x-routecar-attempts"] = str(len(outcome.attempts))
    if outcome.error is not None:
        err = outcome.error
        raise ApiError(err.status, err.message, err.code, err.error_type, err.param, err.outcome, err.retry_after)
    cand = outcome.candidate
    assert cand is not None
    headers["x-routecar-model"] = cand.slug
    headers["x-routecar-provider"] = cand.deployment.provider
    headers["x-routecar-upstream-model"] = cand.deployment.model
    if outcome.dropped_params:
        headers["x-routecar-dropped-params"] = ",".join(outcome.dropped_params)
    model = answer_model(requested, plan.route, cand.slug)
    if outcome.stream is not None:
        return await answers.live(request, ex, entry, outcome.stream, rt.streams, model)
    answer = outcome.answer
    assert answer is not None
    record_usage(ex, answer.body.get("usage") or None)
    if record.stream:  # a cascade step's checked answer: replayed, since it was fetched whole
        return await answers.replayed(request, ex, entry, answer.body, model)
    # Same protocol in and out: the upstream's own bytes are the answer (bar `model`).
    protocol = answer_protocol(gen.config.providers[cand.deployment.provider].type, cand.deployment.model)
    raw = entry.passthrough(answer.raw, protocol, model, answer.body)
    return answers.whole(ex, entry, answer.body, raw, record.cost_usd, record_prompts, model)


def _fail(ex: Exchange, entry: Entry, err: ApiError) -> Response:
    record = ex.record
    record.status, record.outcome = err.status, err.outcome
    if record.error_message is None or err.status != 500:
        record.error_message = err.message
    if ex.plan is not None:
        record_plan(record, ex.plan)
    return error_response(err, entry.protocol, ex.answer_headers)


def _model_object(name: str, owner: str) -> dict[str, object]:
    return {"id": name, "object": "model", "created": 0, "owned_by": owner}


async def list_models(request: Request) -> Response:
    cfg = request.app[RUNTIME].generation.config
    data = [_model_object(slug, "routecar") for slug in cfg.models]
    data += [_model_object(name, "routecar-route") for name in cfg.routes]
    headers = {"x-routecar-request-id": request_id_of(request.headers.get("x-routecar-request-id"))}
    return Response(200, orjson.dumps({"object": "list", "data": data}), headers, content_type=JSON)


async def retrieve_model(request: Request) -> Response:
    """`GET /v1/models/{id}` (the OpenAI SDK's `models.retrieve`): a slug or a route name, as
    `GET /v1/models` lists it; else 404 in OpenAI's error shape, naming the closest names."""
    cfg = request.app[RUNTIME].generation.config
    headers = {"x-routecar-request-id": request_id_of(request.headers.get("x-routecar-request-id"))}
    name = unquote(request.path[len("/v1/models/"):])  # ids may hold '/', sent as is or as %2F
    if name in cfg.models or name in cfg.routes:
        owner = "routecar" if name in cfg.models else "routecar-route"
        return Response(200, orjson.dumps(_model_object(name, owner)), headers, content_type=JSON)
    err = unknown_model(name, cfg)
    return error_response(ApiError(404, str(err), err.code, "invalid_request_error", param="model"), "openai",
                          headers)


# Partials rather than `async def` wrappers: a wrapper coroutine would sit in the await chain
# and be resumed with `_serve` at every suspension of every request.
chat_completions: Callable[[Request], Awaitable[Response | StreamResponse]] = partial(_serve, entry=CHAT)
embeddings: Callable[[Request], Awaitable[Response | StreamResponse]] = partial(_serve, entry=EMBEDDINGS)
messages: Callable[[Request], Awaitable[Response | StreamResponse]] = partial(_serve, entry=MESSAGES)
responses: Callable[[Request], Awaitable[Response | StreamResponse]] = partial(_serve, entry=RESPONSES)
