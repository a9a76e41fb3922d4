"""Classifiers label a request before the router plans, for rules that read `class.NAME`.

Built once per config generation. A route runs only the classifiers its rules (or its
downgrade route's rules) name; embedding classifiers embed their examples in the background
from the moment the generation is built, and requests never wait for that (an unprepared
classifier answers its default). Model-backed classifications are billed to the request.
"""

from __future__ import annotations

import asyncio
import time

from ..config.model import Config
from ..content import Classifiers, EmbeddingClassifier, labels_of, records_of
from .base import Stage
from .content_calls import ContentCalls
from .exchange import Exchange
from .routes import related


class ClassifyStage(Stage):
    name = "classify"

    def __init__(self, config: Config, calls: ContentCalls) -> None:
        self.classifiers = Classifiers(config, calls.chat, calls.embed_vectors)
        self._needs: dict[str, frozenset[str]] = {}
        for name in config.routes:
            needs = frozenset().union(*(self.classifiers.needed_for(r) for r in related(config, name)))
            if needs:
                self._needs[name] = needs
        found = (self.classifiers.get(n) for n in sorted(self.classifiers.names))
        self._embedders = [c for c in found if isinstance(c, EmbeddingClassifier)]
        # One task per classifier, so that one yield lets each take its first step (which marks
        # it as preparing): see before_plan.
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._prepare(c), name=f"prepare-{c.name}") for c in self._embedders]
        self._unstarted = len(self._tasks)

    def applies_to(self, route: str | None) -> bool:
        return route in self._needs

    async def _prepare(self, classifier: EmbeddingClassifier) -> bool:
        self._unstarted -= 1
        return await classifier.prepare()

    async def prepared(self) -> dict[str, bool]:
        """Wait for the background preparation; name -> prepared (optional: requests never wait)."""
        if self._tasks:
            await asyncio.gather(*(asyncio.shield(t) for t in self._tasks), return_exceptions=True)
        return {c.name: c.prepared for c in self._embedders}

    async def before_plan(self, ex: Exchange) -> None:
        routing = ex.routing
        assert routing is not None
        needs = self._needs[routing.model]
        if self._unstarted:
            await asyncio.sleep(0)  # let the prepare tasks start, or classify would start more
        started = time.perf_counter()
        results = await self.classifiers.classify(routing, needs)
        routing.classes.update(labels_of(results))
        ex.record.classes = records_of(results)
        if any(r.source != "heuristic" for r in results.values()):
            ex.spend(sum(r.cost_usd or 0.0 for r in results.values()), time.perf_counter() - started)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.classifiers.close()
