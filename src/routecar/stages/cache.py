"""Answer caches around dispatch (`routes.NAME.cache`): a repeat is answered from memory.

After planning, a cacheable request (deterministic, or the app opted in; `Cache-Control:
no-cache` bypasses) on a caching route is looked up, exact key first, then by meaning when the
route has a semantic cache; a hit is the answer (`ex.stored`), a miss is remembered so that
the complete answer can be stored once the request is over. A route's caches survive a reload
that keeps its cache settings and its semantic cache's embedding model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

import orjson

from ..config.model import CacheConfig, Config, RouteConfig
from ..content import (CachedAnswer, ExactCache, SemanticCache, cache_controls, cache_key, is_cacheable,
                       semantic_scope)
from ..shared.cache import SharedCache  # no redis import: see shared/
from ..shared.results import UNAVAILABLE
from .base import Stage
from .content_calls import ContentCalls
from .exchange import Exchange, StoredAnswer
from .routes import related

log = logging.getLogger("routecar.content")

CACHE_HEADER = "x-routecar-cache"
# A semantic lookup embeds every cacheable prompt; a slow embedding model must not eat the
# request's deadline, so the lookup gives up (a miss) after this long.
SEMANTIC_EMBED_TIMEOUT = 1.0
SEMANTIC_TEXT_CHARS = 8000


@dataclass(slots=True)
class RouteCaches:
    key: tuple[Any, ...]  # what must be equal for the caches to survive a reload
    exact: ExactCache | None
    semantic: SemanticCache | None


@dataclass(slots=True)
class _Miss:
    """What a miss needs to store the answer later."""

    caches: RouteCaches
    key: bytes
    vector: list[float] | None
    scope: bytes


def _route_caches(route: RouteConfig, cfg: Config, old: RouteCaches | None,
                  clock: Callable[[], float]) -> RouteCaches | None:
    cache: CacheConfig | None = route.cache
    if cache is None or (cache.exact is None and cache.semantic is None):
        return None
    embed_model = cfg.models.get(cache.semantic.model) if cache.semantic is not None else None
    key = (cache, embed_model)
    if old is not None and old.key == key:
        return old
    return RouteCaches(key, ExactCache(cache.exact, clock) if cache.exact is not None else None,
                       SemanticCache(cache.semantic, clock) if cache.semantic is not None else None)


def _shared_value(stored: dict[str, Any], cost: float | None) -> bytes:
    """What the shared cache holds: the answer and who made it, what it cost, when."""
    return orjson.dumps({**stored, "cost_usd": cost, "stored_at_unix": time.time()})


def _from_shared(raw: bytes, kind: str) -> StoredAnswer | None:
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # not ours (or from an incompatible build): a miss
    if not isinstance(meta, dict) or not isinstance(meta.get("answer"), dict):
        return None
    age = max(0.0, time.time() - float(meta.get("stored_at_unix") or time.time()))
    return StoredAnswer(meta["answer"], str(meta.get("slug") or ""), str(meta.get("provider") or ""),
                        meta.get("upstream"), kind, age, meta.get("cost_usd"))


class CacheStage(Stage):
    name = "cache"

    def __init__(self, config: Config, calls: ContentCalls, previous: CacheStage | None = None,
                 shared: SharedCache | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls = calls
        # Routes whose exact cache is the fleet's (`exact.shared`): looked up in Redis; the
        # local cache stands in while Redis is unavailable.
        self._shared = shared
        self._shared_routes = frozenset(
            name for name, r in config.routes.items()
            if shared is not None and r.cache is not None and r.cache.exact is not None and r.cache.exact.shared)
        old = previous.caches if previous is not None else {}
        built = {name: _route_caches(route, config, old.get(name), clock) for name, route in config.routes.items()}
        self.caches: dict[str, RouteCaches] = {name: c for name, c in built.items() if c is not None}
        self._routes = frozenset(name for name in config.routes
                                 if any(r.name in self.caches for r in related(config, name)))

    def applies_to(self, route: str | None) -> bool:
        return route in self._routes

    async def after_plan(self, ex: Exchange) -> None:
        routing, plan = ex.routing, ex.plan
        assert routing is not None and plan is not None
        caches = self.caches.get(plan.route or "")
        if caches is None or routing.endpoint == "embeddings":
            return
        opt_in, no_cache = cache_controls(ex.headers.get("Cache-Control"), ex.headers.get(CACHE_HEADER))
        if not is_cacheable(routing.body, opt_in, no_cache):
            ex.answer_headers[CACHE_HEADER] = "bypass"  # the row's `cache` stays empty: no lookup was made
            return
        route = plan.route or ""
        key = cache_key(route, routing.body)
        found, kind = None, "hit"
        if route in self._shared_routes:
            assert self._shared is not None and caches.exact is not None
            raw = await self._shared.get(route, key, caches.exact.cfg.ttl)
            if isinstance(raw, bytes):
                hit = _from_shared(raw, kind)
                if hit is not None:
                    ex.stored = hit
                    ex.record.cache = ex.answer_headers[CACHE_HEADER] = kind
                    return
            elif raw is UNAVAILABLE:
                found = caches.exact.get(key)  # this pod's own cache meanwhile
        elif caches.exact is not None:
            found = caches.exact.get(key)
        vector: list[float] | None = None
        scope = b""
        if found is None and caches.semantic is not None:
            kind = "semantic_hit"
            vector, scope = await self._embed(caches.semantic, route, ex)
            if vector is not None:
                near = caches.semantic.lookup(vector, scope)
                found = near[0] if near is not None else None
        if found is not None and isinstance(found.answer.get("answer"), dict):
            ex.stored = _stored(found, kind)
            ex.record.cache = ex.answer_headers[CACHE_HEADER] = kind
            return
        ex.record.cache = ex.answer_headers[CACHE_HEADER] = "miss"
        ex.notes[self.name] = _Miss(caches, key, vector, scope)

    async def _embed(self, cache: SemanticCache, route: str, ex: Exchange) -> tuple[list[float] | None, bytes]:
        routing = ex.routing
        assert routing is not None
        text = routing.last_user_text[:SEMANTIC_TEXT_CHARS]
        limit = min(SEMANTIC_EMBED_TIMEOUT, ex.deadline - self._calls.dispatcher.clock())
        if not text.strip() or limit <= 0:
            return None, b""
        started = time.perf_counter()
        cost: float | None = None
        try:
            vectors, cost = await self._calls.embed(cache.cfg.model, [text], limit)
        except Exception as exc:  # noqa: BLE001 - no vector means a miss, whatever went wrong
            log.debug("semantic cache of %s: embedding failed (%s)", route, type(exc).__name__)
            return None, b""
        finally:
            ex.spend(cost, time.perf_counter() - started)
        return vectors[0], semantic_scope(route, routing.body)

    def after_outcome(self, ex: Exchange) -> None:
        """Remember a complete non-streamed answer after a miss. The stored cost is what a later
        hit saves: the request's cost less the classifier and embedding spend it pays again."""
        miss = ex.notes.get(self.name)
        outcome = ex.outcome
        if miss is None or outcome is None or outcome.answer is None or ex.record.outcome != "ok":
            return
        answer = outcome.answer.body
        if not _complete(answer):
            return
        cost = ex.record.cost_usd
        if cost is not None:
            cost = max(0.0, cost - ex.side_cost)
        cand = outcome.candidate
        assert cand is not None
        stored = {"answer": answer, "slug": cand.slug, "provider": cand.deployment.provider,
                  "upstream": cand.deployment.model}
        raw = orjson.dumps(stored)
        route = ex.plan.route if ex.plan is not None else None
        if route in self._shared_routes and miss.caches.exact is not None:
            exact = miss.caches.exact.cfg
            assert self._shared is not None
            self._shared.put(route, miss.key, _shared_value(stored, cost), exact.ttl, exact.max_entries, exact.max_bytes)
        if miss.caches.exact is not None:
            miss.caches.exact.put(miss.key, stored, cost, raw)
        if miss.caches.semantic is not None and miss.vector is not None:
            miss.caches.semantic.store(miss.vector, stored, cost, miss.scope, raw)


def _stored(found: CachedAnswer, kind: str) -> StoredAnswer:
    meta: dict[str, Any] = found.answer
    return StoredAnswer(meta["answer"], str(meta.get("slug") or ""), str(meta.get("provider") or ""),
                        meta.get("upstream"), kind, max(0.0, time.monotonic() - found.stored_at), found.cost_usd)


def _complete(answer: dict[str, Any]) -> bool:
    """Only whole answers are worth repeating: a message and a finish reason in every choice."""
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(c, dict) and isinstance(c.get("message"), dict) and c.get("finish_reason")
               for c in choices)
