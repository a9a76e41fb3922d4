"""The classifiers of one config snapshot, run for the routes that read them.

Built once per config (at start and on every reload) from `config.classifiers`. A request
runs only the classifiers its route's rules name as `class.NAME`; a route that names none pays
nothing: `classify` with no names returns a shared empty mapping without awaiting anything.
The heuristic runs inline; model-backed classifiers run concurrently, each under its own timeout.

Usage on the request path:

    names = classifiers.needed_for(route)
    if names:
        results = await classifiers.classify(req, names)
        req.classes.update(labels_of(results))
"""

from __future__ import annotations

import asyncio
import time
from types import MappingProxyType
from typing import Mapping, Union

from ..config.model import ClassifierConfig, Config, RouteConfig
from ..router.plan import RoutingRequest
from .embedding_classifier import EmbedCall, EmbeddingClassifier
from .heuristic import classify_heuristic
from .llm_classifier import ChatCall, LLMClassifier
from .result import ClassResult

NO_RESULTS: Mapping[str, ClassResult] = MappingProxyType({})
_NO_NAMES: frozenset[str] = frozenset()
_CLASS_PREFIX = "class."

ModelClassifier = Union[LLMClassifier, EmbeddingClassifier]


def labels_of(results: Mapping[str, ClassResult]) -> dict[str, str]:
    """name -> label for `RoutingRequest.classes`; a result without a label is left out so
    that no `class.NAME` rule can match it."""
    return {name: r.label for name, r in results.items() if r.label}


def records_of(results: Mapping[str, ClassResult]) -> dict[str, dict[str, object]]:
    """name -> {label, source, latency_ms, cost_usd?, score?} for `RouteRecord.classes`."""
    return {name: r.as_dict() for name, r in results.items()}


class Classifiers:
    def __init__(self, config: Config, call: ChatCall, embed: EmbedCall) -> None:
        self._config = config
        self._heuristic: frozenset[str] = frozenset(
            name for name, c in config.classifiers.items() if c.type == "heuristic"
        )
        self._models: dict[str, ModelClassifier] = {}
        for name, c in config.classifiers.items():
            built = self._build(c, config, call, embed)
            if built is not None:
                self._models[name] = built
        self._known = self._heuristic | frozenset(self._models)
        # Per route of this snapshot; routes are frozen, so their needs never change.
        self._needed: dict[str, frozenset[str]] = {}

    @staticmethod
    def _build(c: ClassifierConfig, config: Config, call: ChatCall, embed: EmbedCall) -> ModelClassifier | None:
        if c.type == "llm":
            return LLMClassifier(c, call, config.models.get(c.model or ""))
        if c.type == "embedding":
            return EmbeddingClassifier(c, embed)
        return None

    @property
    def names(self) -> frozenset[str]:
        return self._known

    def get(self, name: str) -> ModelClassifier | None:
        """The model-backed classifier called `name` (None for heuristic or unknown ones)."""
        return self._models.get(name)

    def needed_for(self, route: RouteConfig) -> frozenset[str]:
        """The classifiers the route's rules read (`class.NAME` conditions)."""
        cached = self._needed.get(route.name)
        if cached is not None and self._config.routes.get(route.name) is route:
            return cached
        names = frozenset(
            key[len(_CLASS_PREFIX):]
            for rule in route.rules
            for key in rule.when
            if key.startswith(_CLASS_PREFIX) and key[len(_CLASS_PREFIX):] in self._known
        ) or _NO_NAMES
        # Only this snapshot's routes are remembered, so the memo stays bounded by the config.
        if self._config.routes.get(route.name) is route:
            self._needed[route.name] = names
        return names

    async def classify(self, req: RoutingRequest, names: frozenset[str]) -> Mapping[str, ClassResult]:
        """Labels of the named classifiers for this request (unknown names are ignored)."""
        if not names:
            return NO_RESULTS
        out: dict[str, ClassResult] = {}
        pending: list[tuple[str, ModelClassifier]] = []
        for name in names:
            if name in self._heuristic:
                start = time.perf_counter()
                label = classify_heuristic(req)
                out[name] = ClassResult(label, (time.perf_counter() - start) * 1000.0, None, "heuristic")
            else:
                model = self._models.get(name)
                if model is not None:
                    pending.append((name, model))
        if len(pending) == 1:
            # One call needs no task: await it in this one.
            name, model = pending[0]
            out[name] = await model.classify(req)
        elif pending:
            results = await asyncio.gather(*(m.classify(req) for _, m in pending))
            for (name, _), result in zip(pending, results):
                out[name] = result
        return out

    async def prepare(self) -> dict[str, bool]:
        """Embed the examples of every embedding classifier; name -> prepared. Never raises:
        a classifier that could not prepare answers its default and retries on its own."""
        embedding = [(n, m) for n, m in self._models.items() if isinstance(m, EmbeddingClassifier)]
        if not embedding:
            return {}
        done = await asyncio.gather(*(m.prepare() for _, m in embedding))
        return {name: ok for (name, _), ok in zip(embedding, done)}

    async def close(self) -> None:
        """Stop background work (a retried prepare) of a snapshot that is being replaced."""
        for model in self._models.values():
            if isinstance(model, EmbeddingClassifier):
                await model.close()
