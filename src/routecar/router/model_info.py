"""Per-model facts (ModelInfo) and per-candidate-list facts (Group) the router needs on every
decision, computed once when the Router is built for a config, so a decision pays only for what
depends on the request and live health."""

from __future__ import annotations

import re
import sys
from typing import Any, Mapping, Protocol, Sequence

from ..config.model import ModelConfig
from ..config.model_catalog import catalog_defaults
from .plan import RoutingRequest

# The output cap of a model without max_output_tokens: an int, so capping needs no None test.
NO_CAP = sys.maxsize
# ModelConfig's default capabilities: a model left at them did not declare any, so we only
# hold it to the capabilities everybody has (tools is in the default set, vision is not).
DEFAULT_CAPABILITIES = ModelConfig.__dataclass_fields__["capabilities"].default


def declares_capabilities(model: ModelConfig) -> bool:
    return model.capabilities != DEFAULT_CAPABILITIES


class StaticRanking(Protocol):
    """A strategy whose ranking depends on the snapshot only (see router/strategies.py)."""

    def rank_static(self, models: Sequence[ModelInfo]) -> Sequence[Any]: ...

# Small-model name parts ("gpt-4o-mini", "gemini-2.0-flash", "llama-3.1-8b"), not inside a
# longer word ("gemini" is not "mini").
_FAST_NAME = re.compile(
    r"(?<![a-z])(?:mini|nano|flash|fast|haiku|lite|small|instant|turbo)|(?<![\d.])(?:0\.5|1\.5|[1-9])b\b",
    re.I,
)


def looks_fast(*names: str) -> bool:
    return any(_FAST_NAME.search(n) for n in names)


class ModelInfo:
    """A ModelConfig flattened for the hot path: plain attributes, no property calls."""

    __slots__ = ("model", "slug", "deps", "dep_ids", "base", "shares", "suffixes", "window",
                 "embedding", "tools", "vision", "schema_ok", "fallbacks", "quality", "fast", "single",
                 "fallback_infos", "id0", "base0", "price_in", "price_out", "out_cap", "least_request")

    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.slug = model.slug
        self.deps = model.deployments
        self.dep_ids = tuple(d.id for d in model.deployments)
        self.base = tuple(d.weight for d in model.deployments)
        total = sum(self.base)
        self.shares = (
            ("only deployment",) if len(self.deps) == 1
            else tuple(f"weight {w:g}/{total:g}" for w in self.base)
        )
        # What a candidate's reason ends with, so building it is one concatenation.
        self.suffixes = tuple("; " + s for s in self.shares)
        caps = model.capabilities
        self.window = model.context_window
        self.embedding = model.is_embedding
        self.tools = "tools" in caps
        self.vision = "vision" in caps
        # json_schema is only enforced for models that declare their capabilities.
        self.schema_ok = "json_schema" in caps or not declares_capabilities(model)
        self.fallbacks = model.fallbacks
        upstream = [d.model for d in model.deployments]
        quality = model.quality
        if quality is None:
            quality = catalog_defaults(model.slug, upstream).get("quality", 0.5)
        self.quality = float(quality)
        self.fast = looks_fast(model.slug, *upstream)
        self.single = len(self.deps) == 1
        self.least_request = model.balancing == "least_request" and not self.single
        # The first deployment's health key and weight: single-deployment models skip indexing.
        self.id0, self.base0 = self.dep_ids[0], self.base[0]
        self.price_in, self.price_out = model.price.input, model.price.output  # USD per 1M tokens
        # max_output_tokens without its None, so output estimates cap it without a None test.
        self.out_cap = NO_CAP if model.max_output_tokens is None else model.max_output_tokens
        self.fallback_infos: tuple[ModelInfo, ...] = ()  # linked by build_infos()


def build_infos(models: Mapping[str, ModelConfig]) -> dict[str, ModelInfo]:
    """ModelInfo per slug, with fallbacks linked; ValueError names an unknown fallback."""
    infos = {slug: ModelInfo(m) for slug, m in models.items()}
    for info in infos.values():
        missing = [s for s in info.fallbacks if s not in infos]
        if missing:
            raise ValueError(f"models.{info.slug}.fallbacks: unknown model '{missing[0]}'")
        info.fallback_infos = tuple(infos[s] for s in info.fallbacks)
    return infos


class Group:
    """A candidate list with what all its models share, so the common request (it fits every
    model) skips the per-model filter, and a static ranking is computed once."""

    __slots__ = ("infos", "models", "min_window", "chat", "embed", "tools", "vision", "schema", "closed",
                 "step_of", "_static")

    def __init__(self, infos: Sequence[ModelInfo]) -> None:
        self.infos = tuple(infos)
        self.models = [i.model for i in self.infos]
        windows = [i.window for i in self.infos if i.window is not None]
        self.min_window = min(windows) if windows else None
        self.chat = not any(i.embedding for i in self.infos)
        self.embed = all(i.embedding for i in self.infos)
        self.tools = all(i.tools for i in self.infos)
        self.vision = all(i.vision for i in self.infos)
        self.schema = all(i.schema_ok for i in self.infos)
        # Every fallback is itself in the list: expanding it never adds a fallback.
        slugs = {i.slug for i in self.infos}
        self.closed = all(f in slugs for i in self.infos for f in i.fallbacks)
        # Cascade steps are config positions, so an unfit step leaves a gap, not a renumbering.
        self.step_of = {i.slug: n for n, i in enumerate(self.infos)}
        self._static: dict[StaticRanking, tuple[Any, ...]] = {}

    def all_fit(self, req: RoutingRequest) -> bool:
        if not (self.embed if req.endpoint == "embeddings" else self.chat):
            return False
        # Uncapped by any model's max_output_tokens: at least what each model needs.
        need = req.est_prompt_tokens + req.est_output_tokens
        return (
            (self.min_window is None or need <= self.min_window)
            and (self.tools or not req.has_tools)
            and (self.vision or not req.has_images)
            and (self.schema or not req.json_schema)
        )

    def static_ranking(self, strategy: StaticRanking) -> tuple[Any, ...]:
        """The ranking of a strategy that depends on the config only (ordered, quality,
        cascade), computed on first use; a shared tuple that callers copy before changing."""
        ranked = self._static.get(strategy)
        if ranked is None:
            ranked = self._static[strategy] = tuple(strategy.rank_static(self.infos))  # type: ignore[attr-defined]
        return ranked
