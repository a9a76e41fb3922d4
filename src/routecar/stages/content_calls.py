"""Upstream calls a request's stages make for themselves (an LLM classifier's question, an
embedding for a classifier or the semantic cache): planned and dispatched like any request,
so failover, breakers and rate limits apply to them too."""

from __future__ import annotations

from typing import Any

from ..dispatch.dispatcher import Dispatcher
from ..dispatch.outcome import Outcome
from ..dispatch.values import DispatchRequest
from ..router.cost import actual_cost, build_routing_request
from ..router.router import Router

# Preparing an embedding classifier embeds all its examples; this bounds that call.
PREPARE_LIMIT = 10.0


class ContentCallError(Exception):
    """An upstream call for content got no answer (only the outcome: no provider text)."""


class ContentCalls:
    def __init__(self, router: Router, dispatcher: Dispatcher, chat_limit: float) -> None:
        self.router = router
        self.dispatcher = dispatcher
        self.chat_limit = chat_limit

    async def _call(self, body: dict[str, Any], endpoint: str, limit: float) -> Outcome:
        routing = build_routing_request(endpoint, body)
        plan = self.router.plan(routing)
        deadline = self.dispatcher.clock() + limit
        outcome = await self.dispatcher.execute(plan, DispatchRequest(body, endpoint, False, routing.est_prompt_tokens),
                                                deadline)
        if outcome.error is not None:
            raise ContentCallError(outcome.error.outcome)
        if outcome.answer is None:  # only streams come back without one, and none is asked for
            raise ContentCallError("no answer")
        return outcome

    async def chat(self, slug: str, body: dict[str, Any]) -> dict[str, Any]:
        """An LLM classifier's question; bounded by the longest classifier timeout."""
        outcome = await self._call(body, "chat", self.chat_limit)
        return outcome.answer.body  # type: ignore[union-attr]

    async def embed_vectors(self, slug: str, texts: list[str]) -> list[list[float]]:
        """Embeddings for an embedding classifier's examples (prepared in the background)."""
        return (await self.embed(slug, texts, PREPARE_LIMIT))[0]

    async def embed(self, slug: str, texts: list[str], limit: float) -> tuple[list[list[float]], float | None]:
        """(one vector per text, cost in USD) from embeddings model `slug`, within `limit` seconds."""
        outcome = await self._call({"model": slug, "input": texts}, "embeddings", limit)
        body = outcome.answer.body  # type: ignore[union-attr]
        items = [d for d in body.get("data") or () if isinstance(d, dict)]
        items.sort(key=lambda d: d.get("index") if isinstance(d.get("index"), int) else 0)
        vectors = [d.get("embedding") for d in items]
        if len(vectors) != len(texts) or not all(isinstance(v, list) for v in vectors):
            raise ContentCallError("malformed embeddings")
        usage = body.get("usage")
        cost = actual_cost(outcome.candidate.model, usage) if isinstance(usage, dict) and outcome.candidate else None
        return vectors, cost  # type: ignore[return-value]
