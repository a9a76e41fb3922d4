"""Content-aware routing on the request path: classifiers before routing, answer caches around
dispatch (SPEC §3-§5). The pieces live in `routecar.content`; this wires them to the sidecar:

    content = content_stage.begin(rt, snap, routing, request.headers, deadline, attempts)  # sync
    await content.classify(record)                                   # before the router plans
    hit = await content.serve_cached(request, plan, record, headers, started, protocol)
    content.store(success, answer_body, cost)                        # after a complete answer

Classifier and embedding spend is billed to the request through `attempts.extra_cost`, which
the handler adds to the answer's cost.

A config with no classifiers and no cache never imports this module (the handler checks
`Snapshot.content`); in one that has some, a route with no `class.NAME` rule and no cache pays
one dict lookup (`begin` returns None).
State (classifiers, caches) is per process, keyed here on the Runtime and rebuilt lazily when
a request arrives on a new snapshot; a route's caches survive a reload that keeps its `cache`
settings and its semantic cache's embedding model. Classifier and embedding calls go through
the snapshot's own router and dispatcher: failover, breakers and rate limits apply to them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping
from weakref import WeakKeyDictionary

import orjson
from ..http1.server import Request, Response, StreamResponse

from ..config.model import CacheConfig, Config, RouteConfig
from ..content import (CachedAnswer, Classifiers, EmbeddingClassifier, ExactCache, SemanticCache, cache_controls,
                       cache_key, is_cacheable, labels_of, records_of, replay_stream, semantic_scope)
from ..dispatch.dispatcher import Attempts, DispatchError, Success
from ..providers import anthropic_inbound
from ..providers.base import Chunk
from ..router.cost import actual_cost, build_routing_request
from ..router.plan import Plan, RoutingRequest
from ..routelog.record import RouteRecord
from .errors import JSON
from .runtime import Runtime, Snapshot
from .streaming import SSE_HEADERS, OpenAIStreamEncoder

log = logging.getLogger("routecar.content")

CACHE_HEADER = "x-routecar-cache"
# A semantic lookup embeds every cacheable prompt; a slow embedding model must not eat the
# request's deadline, so the lookup gives up (a miss) after this long.
SEMANTIC_EMBED_TIMEOUT = 1.0
SEMANTIC_TEXT_CHARS = 8000
# Preparing an embedding classifier embeds all its examples; its own timeout bounds the call.
PREPARE_LIMIT = 10.0
_NO_NAMES: frozenset[str] = frozenset()


class ContentCallError(Exception):
    """An upstream call for content got no answer (only the outcome: no provider text)."""


@dataclass(slots=True)
class RouteCaches:
    key: tuple[Any, ...]  # what must be equal for the caches to survive a reload
    exact: ExactCache | None
    semantic: SemanticCache | None


@dataclass(frozen=True, slots=True)
class RouteNeeds:
    classes: frozenset[str]  # classifiers its rules (or its downgrade route's rules) read
    caching: bool  # the route, or its downgrade route, caches answers


class ContentState:
    """Classifiers and caches of one config snapshot."""

    def __init__(self, snap: Snapshot, previous: ContentState | None) -> None:
        cfg = snap.config
        self.snapshot = snap
        # Kept so requests that started on the previous config finish with its classifiers.
        self.previous = previous
        self.classifiers = Classifiers(cfg, self._chat, self._embed_vectors) if cfg.classifiers else None
        old = previous.caches if previous is not None else {}
        built = {name: _route_caches(route, cfg, old.get(name)) for name, route in cfg.routes.items()}
        self.caches: dict[str, RouteCaches] = {name: c for name, c in built.items() if c is not None}
        self.routes: dict[str, RouteNeeds] = {}
        for name, route in cfg.routes.items():
            related = [route]
            if route.budget is not None and route.budget.downgrade_to in cfg.routes:
                related.append(cfg.routes[route.budget.downgrade_to])
            classes = frozenset().union(*(self._needed(r) for r in related)) or _NO_NAMES
            caching = any(r.name in self.caches for r in related)
            if classes or caching:
                self.routes[name] = RouteNeeds(classes, caching)
        self._chat_limit = max((c.timeout for c in cfg.classifiers.values()), default=1.0)
        self._closing: asyncio.Task[None] | None = None  # of the state this one replaced
        found = (self.classifiers.get(n) for n in sorted(self.classifiers.names)) if self.classifiers else ()
        self._embedders = [c for c in found if isinstance(c, EmbeddingClassifier)]
        # One task per classifier (not one gather), so that a single yield lets each take its
        # first step, which marks it as preparing: see ContentRequest.classify.
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._prepare_one(c), name=f"prepare-{c.name}") for c in self._embedders]
        self.unstarted = len(self._tasks)  # prepare tasks that have not taken their first step

    def _needed(self, route: RouteConfig) -> frozenset[str]:
        return self.classifiers.needed_for(route) if self.classifiers is not None else _NO_NAMES

    async def _prepare_one(self, classifier: EmbeddingClassifier) -> bool:
        self.unstarted -= 1
        return await classifier.prepare()

    async def prepared(self) -> dict[str, bool]:
        """Wait for the background preparation; name -> prepared."""
        if self._tasks:
            await asyncio.gather(*(asyncio.shield(t) for t in self._tasks), return_exceptions=True)
        return {c.name: c.prepared for c in self._embedders}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.classifiers is not None:
            await self.classifiers.close()

    # -- upstream calls of classifiers and the semantic cache -------------------------------

    async def _dispatch(self, body: dict[str, Any], endpoint: str, limit: float) -> Success:
        snap = self.snapshot
        routing = build_routing_request(endpoint, body)
        plan = snap.router.plan(routing)
        deadline = asyncio.get_running_loop().time() + limit
        result = await snap.dispatcher.run(plan, body, endpoint, False, deadline, routing.est_prompt_tokens,
                                           Attempts())
        if isinstance(result, DispatchError):
            raise ContentCallError(result.outcome)
        if result.answer is None:  # only streams come back without one, and none is asked for
            raise ContentCallError("no answer")
        return result

    async def _chat(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        return (await self._dispatch(body, "chat", self._chat_limit)).answer.body  # type: ignore[union-attr]

    async def _embed_vectors(self, slug: str, texts: list[str]) -> list[list[float]]:
        return (await self.embed(slug, texts, PREPARE_LIMIT))[0]

    async def embed(self, slug: str, texts: list[str], limit: float) -> tuple[list[list[float]], float | None]:
        """(one vector per text, cost in USD) from embeddings model `slug`."""
        success = await self._dispatch({"model": slug, "input": texts}, "embeddings", limit)
        body = success.answer.body  # type: ignore[union-attr]
        items = [d for d in body.get("data") or () if isinstance(d, dict)]
        items.sort(key=lambda d: d.get("index") if isinstance(d.get("index"), int) else 0)
        vectors = [d.get("embedding") for d in items]
        if len(vectors) != len(texts) or not all(isinstance(v, list) for v in vectors):
            raise ContentCallError("malformed embeddings")
        usage = body.get("usage")
        cost = actual_cost(success.candidate.model, usage) if isinstance(usage, dict) else None
        return vectors, cost  # type: ignore[return-value]


def _route_caches(route: RouteConfig, cfg: Config, old: RouteCaches | None) -> RouteCaches | None:
    cache: CacheConfig | None = route.cache
    if cache is None or (cache.exact is None and cache.semantic is None):
        return None
    embed_model = cfg.models.get(cache.semantic.model) if cache.semantic is not None else None
    key = (cache, embed_model)
    if old is not None and old.key == key:
        return old
    return RouteCaches(key, ExactCache(cache.exact) if cache.exact is not None else None,
                       SemanticCache(cache.semantic) if cache.semantic is not None else None)


_STATES: WeakKeyDictionary[Runtime, ContentState] = WeakKeyDictionary()


def state_of(rt: Runtime, snap: Snapshot | None = None) -> ContentState | None:
    """The content state for `snap` (default: the runtime's current snapshot), built on first
    use of a new snapshot; None for a snapshot already two reloads old."""
    snap = snap if snap is not None else rt.snapshot
    state = _STATES.get(rt)
    if state is not None and state.snapshot is snap:
        return state
    if snap is not rt.snapshot:
        # A request that took its snapshot just before a reload reached us after it.
        previous = state.previous if state is not None else None
        return previous if previous is not None and previous.snapshot is snap else None
    dropped = state.previous if state is not None else None
    if state is not None:
        state.previous = None  # one generation back is enough: older requests skip content
    new = ContentState(snap, state)
    _STATES[rt] = new
    if dropped is not None:
        new._closing = asyncio.get_running_loop().create_task(dropped.close())
    return new


async def warm(rt: Runtime) -> dict[str, bool]:
    """Build the current snapshot's content state and wait until its embedding classifiers are
    prepared (or have failed to); name -> prepared. Optional: requests never wait for it."""
    state = state_of(rt)
    return await state.prepared() if state is not None else {}


async def close(rt: Runtime) -> None:
    """Stop background work (classifier preparation) of this runtime; call on shutdown."""
    state = _STATES.pop(rt, None)
    if state is None:
        return
    for each in (state, state.previous):
        if each is not None:
            await each.close()
    if state._closing is not None:
        await asyncio.gather(state._closing, return_exceptions=True)
    state.previous = None


def begin(rt: Runtime, snap: Snapshot, routing: RoutingRequest, headers: Mapping[str, str],
          deadline: float, attempts: Attempts) -> ContentRequest | None:
    """What this request needs from classifiers and caches; None (and no await) for none."""
    state = _STATES.get(rt)
    if state is None or state.snapshot is not snap:
        state = state_of(rt, snap)
        if state is None:
            return None
    needs = state.routes.get(routing.model)
    if needs is None:
        return None
    return ContentRequest(state, needs, routing, headers, deadline, attempts)


class ContentRequest:
    """One request's classification, cache lookup and store."""

    __slots__ = ("_state", "_needs", "_routing", "_deadline", "_attempts", "_cacheable", "cost_usd",
                 "upstream_s", "_caches", "_key", "_vector", "_scope")

    def __init__(self, state: ContentState, needs: RouteNeeds, routing: RoutingRequest,
                 headers: Mapping[str, str], deadline: float, attempts: Attempts) -> None:
        self._state = state
        self._needs = needs
        self._routing = routing
        self._deadline = deadline
        self._attempts = attempts
        self._cacheable = False
        if needs.caching and routing.endpoint != "embeddings":
            opt_in, no_cache = cache_controls(headers.get("Cache-Control"), headers.get(CACHE_HEADER))
            self._cacheable = is_cacheable(routing.body, opt_in, no_cache)
        self.cost_usd = 0.0  # classifier and embedding calls made for this request
        self.upstream_s = 0.0  # time spent waiting on those calls
        self._caches: RouteCaches | None = None
        self._key: bytes | None = None
        self._vector: list[float] | None = None
        self._scope = b""

    def _spent(self, record: RouteRecord, cost: float | None, since: float) -> None:
        self.upstream_s += time.perf_counter() - since
        if cost:
            self.cost_usd += cost
            self._attempts.extra_cost += cost  # the handler adds it to the answer's cost
            record.cost_usd = (record.cost_usd or 0.0) + cost  # the row's cost if no answer comes

    async def classify(self, record: RouteRecord) -> None:
        """Label the request for the route's `class.NAME` rules (before the router plans)."""
        classifiers = self._state.classifiers
        if not self._needs.classes or classifiers is None:
            return
        if self._state.unstarted:
            await asyncio.sleep(0)  # let the prepare tasks start, or classify would start more
        started = time.perf_counter()
        results = await classifiers.classify(self._routing, self._needs.classes)
        self._routing.classes.update(labels_of(results))
        record.classes = records_of(results)
        if any(r.source != "heuristic" for r in results.values()):
            self._spent(record, sum(r.cost_usd or 0.0 for r in results.values()), started)

    async def serve_cached(self, request: Request, plan: Plan, record: RouteRecord, headers: dict[str, str],
                           started: float, protocol: str) -> StreamResponse | None:
        """The cached answer for this request, written to the app; None when it must be
        dispatched (a miss, a bypass, or a route that does not cache)."""
        caches = self._state.caches.get(plan.route or "") if self._needs.caching else None
        if caches is None or self._routing.endpoint == "embeddings":
            return None
        if not self._cacheable:
            headers[CACHE_HEADER] = "bypass"  # the row's `cache` stays empty: no lookup was made
            return None
        route = plan.route or ""
        self._caches = caches
        self._key = cache_key(route, self._routing.body)
        found, kind = None, "hit"
        if caches.exact is not None:
            found = caches.exact.get(self._key)
        if found is None and caches.semantic is not None:
            found, kind = await self._semantic_lookup(caches.semantic, route, record), "semantic_hit"
        stored = found.answer if found is not None else None
        answer = stored.get("answer") if isinstance(stored, dict) else None
        if found is None or not isinstance(answer, dict):
            record.cache = headers[CACHE_HEADER] = "miss"
            return None
        return await self._answer(request, found, answer, kind, plan, record, headers, started, protocol)

    async def _semantic_lookup(self, cache: SemanticCache, route: str, record: RouteRecord) -> CachedAnswer | None:
        text = self._routing.last_user_text[:SEMANTIC_TEXT_CHARS]
        limit = min(SEMANTIC_EMBED_TIMEOUT, self._deadline - asyncio.get_running_loop().time())
        if not text.strip() or limit <= 0:
            return None
        started = time.perf_counter()
        cost: float | None = None
        try:
            async with asyncio.timeout(limit):
                vectors, cost = await self._state.embed(cache.cfg.model, [text], limit)
        except Exception as exc:  # noqa: BLE001 - includes TimeoutError: no vector means a miss
            log.debug("semantic cache of %s: embedding failed (%s)", route, type(exc).__name__)
            return None
        finally:
            self._spent(record, cost, started)
        self._vector = vectors[0]
        self._scope = semantic_scope(route, self._routing.body)
        found = cache.lookup(self._vector, self._scope)
        return found[0] if found is not None else None

    async def _answer(self, request: Request, found: CachedAnswer, answer: dict[str, Any], kind: str, plan: Plan,
                      record: RouteRecord, headers: dict[str, str], started: float,
                      protocol: str) -> StreamResponse:
        meta: dict[str, Any] = found.answer
        slug, provider = str(meta.get("slug") or ""), str(meta.get("provider") or "")
        age = max(0.0, time.monotonic() - found.stored_at)
        record.cache = headers[CACHE_HEADER] = kind
        record.chosen_model = slug or None
        record.upstream_model = meta.get("upstream")
        record.status, record.outcome, record.attempts = 200, "ok", 0
        # What the hit saved: the original answer's true cost, else the plan's estimate.
        record.est_cost_usd = found.cost_usd if found.cost_usd is not None else plan.est_cost_usd
        record.cost_usd = self.cost_usd
        record.reason = (f"{kind.replace('_', ' ')}: answer stored {age:.1f}s ago, produced by {slug} via "
                         f"{provider}; the plan was {plan.reason}")
        if plan.route:
            headers["x-routecar-route"] = plan.route
        headers.update({"x-routecar-model": slug, "x-routecar-provider": provider, "x-routecar-attempts": "0"})
        record.overhead_ms = round(max(0.0, time.perf_counter() - started - self.upstream_s) * 1000, 3)
        headers["x-routecar-overhead-ms"] = f"{record.overhead_ms:.3f}"
        if self._routing.stream:
            options = self._routing.body.get("stream_options")
            wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await _replay(request, answer, record, headers, started, protocol, wants_usage)
        headers["x-routecar-cost-usd"] = f"{self.cost_usd:.8f}"
        payload = (answer if protocol == "openai"
                   else anthropic_inbound.canonical_to_message(answer, record.requested_model or ""))
        return Response(200, orjson.dumps(payload), headers, content_type=JSON)

    def store(self, success: Success, answer: dict[str, Any], cost: float | None) -> None:
        """Remember a complete non-streaming answer after a cache miss. `cost` is the request's
        cost; a later hit saves it, less the classifier and embedding spend it pays again."""
        caches, key = self._caches, self._key
        if caches is None or key is None or not _complete(answer):
            return
        if cost is not None:
            cost = max(0.0, cost - self.cost_usd)
        cand = success.candidate
        stored = {"answer": answer, "slug": cand.slug, "provider": cand.deployment.provider,
                  "upstream": cand.deployment.model}
        raw = orjson.dumps(stored)
        if caches.exact is not None:
            caches.exact.put(key, stored, cost, raw)
        if caches.semantic is not None and self._vector is not None:
            caches.semantic.store(self._vector, stored, cost, self._scope, raw)


def _complete(answer: dict[str, Any]) -> bool:
    """Only whole answers are worth repeating: a message and a finish reason in every choice."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(c, dict) and isinstance(c.get("message"), dict) and c.get("finish_reason")
               for c in choices)


async def _replay(request: Request, answer: dict[str, Any], record: RouteRecord, headers: dict[str, str],
                  started: float, protocol: str, wants_usage: bool) -> StreamResponse:
    """A cached answer as a stream in the entry point's protocol."""
    encoder: Any = (OpenAIStreamEncoder(wants_usage) if protocol == "openai"
                    else anthropic_inbound.MessagesStreamEncoder(record.requested_model or ""))
    resp = StreamResponse(status=200, headers={**SSE_HEADERS, **headers})
    try:
        await resp.prepare(request)
        for data in replay_stream(answer, include_usage=True):
            chunk = Chunk(data)
            out = encoder.encode(chunk)
            if out:
                await resp.write(out)
                if record.ttft_ms is None and chunk.has_content:
                    record.ttft_ms = (time.perf_counter() - started) * 1000
        await resp.write(encoder.finish())
        await resp.write_eof()
    except ConnectionResetError:
        record.status, record.outcome = 499, "client_cancelled"
    return resp
