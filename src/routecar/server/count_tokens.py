"""`POST /v1/messages/count_tokens`: Anthropic's token counter, routed like a request.

The model (a slug or a route) is planned as a Messages request would be; the plan's Anthropic
deployments are asked in order through the dispatcher (so breakers, cooldowns, failover and
the deadline apply), with the app's own body bar `model`. When the plan has no Anthropic
deployment, or none of them could answer, routecar estimates the count itself (the router's
estimate: ~4 characters a token) and says so: `x-routecar-token-count: estimated` (else
`upstream`). A count is not a generation: it costs nothing and writes no route-log row.
"""

from __future__ import annotations

import time
from dataclasses import replace

import orjson

from ..dispatch.values import DispatchRequest
from ..errors import ApiError
from ..http1.server import Request, Response
from ..router.cost import build_routing_request
from ..router.plan import RoutingError
from .entries import MESSAGES
from .errors import JSON, error_response
from .keys import RUNTIME
from .request_parsing import parse_tags, parse_timeout_ms, read_json, request_id_of
from .runtime import Generation

# What an upstream's own verdict on the request looks like (answered as is, not estimated over).
_REQUEST_FAULTS = frozenset({400, 401, 403, 404, 413, 422})


async def count_tokens(request: Request) -> Response:
    rt = request.app[RUNTIME]
    gen = rt.generation
    headers = {"x-routecar-request-id": request_id_of(request.headers.get("x-routecar-request-id"))}
    try:
        return await _count(request, gen, headers)
    except ApiError as err:
        return error_response(err, "anthropic", headers)


async def _count(request: Request, gen: Generation, headers: dict[str, str]) -> Response:
    cfg = gen.config
    body = read_json(request, cfg.server.max_body_bytes)
    # Counting takes no max_tokens; the canonical form wants one (never sent: the app's bytes are).
    canonical = MESSAGES.parse({**body, "max_tokens": 1}, request.body)
    tags = request.headers.get("x-routecar-tags")
    routing = build_routing_request("chat", canonical, parse_tags(tags) if tags else None)
    try:
        plan = gen.router.plan(routing)
    except RoutingError as exc:
        raise ApiError(exc.status, str(exc), exc.code, exc.error_type,
                       param="model" if exc.status == 404 else None) from None
    anthropic = tuple(c for c in plan.candidates if cfg.providers[c.deployment.provider].type == "anthropic")
    if anthropic:
        timeout = request.headers.get("x-routecar-timeout-ms")
        deadline = time.monotonic() + (cfg.server.default_timeout if timeout is None else parse_timeout_ms(timeout))
        outcome = await gen.dispatcher.execute(
            replace(plan, candidates=anthropic),
            DispatchRequest(canonical, "count_tokens", False, routing.est_prompt_tokens, None, request.headers),
            deadline)
        if outcome.answer is not None and outcome.candidate is not None:
            cand = outcome.candidate
            headers.update({"x-routecar-token-count": "upstream", "x-routecar-model": cand.slug,
                            "x-routecar-provider": cand.deployment.provider,
                            "x-routecar-upstream-model": cand.deployment.model})
            return Response(200, orjson.dumps({"input_tokens": outcome.answer.body["input_tokens"]}), headers,
                            content_type=JSON)
        err = outcome.error
        if err is not None and err.status in _REQUEST_FAULTS:
            raise ApiError(err.status, err.message, err.code, err.error_type, err.param, err.outcome)
    headers["x-routecar-token-count"] = "estimated"
    return Response(200, orjson.dumps({"input_tokens": routing.est_prompt_tokens}), headers, content_type=JSON)
