"""Per-model facts the router needs on every decision, computed once per config snapshot."""

from __future__ import annotations

from typing import Mapping

from ..config.model import ModelConfig
from .catalog import catalog_defaults
from .filters import declares_capabilities
from .strategies import looks_fast


class ModelInfo:
    """A ModelConfig flattened for the hot path: plain attributes, no property calls."""

    __slots__ = ("model", "slug", "deps", "dep_ids", "base", "shares", "window", "max_out",
                 "embedding", "tools", "vision", "schema_ok", "fallbacks", "quality", "fast", "single",
                 "fallback_infos", "dep0", "id0", "base0")

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
        caps = model.capabilities
        self.window = model.context_window
        self.max_out = model.max_output_tokens
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
        # The first deployment unpacked: single-deployment models skip all indexing.
        self.dep0, self.id0, self.base0 = self.deps[0], self.dep_ids[0], self.base[0]
        self.fallback_infos: tuple[ModelInfo, ...] = ()  # linked by link_fallbacks()


def build_infos(models: Mapping[str, ModelConfig]) -> dict[str, ModelInfo]:
    """ModelInfo per slug, with fallbacks linked; ValueError names an unknown fallback."""
    infos = {slug: ModelInfo(m) for slug, m in models.items()}
    for info in infos.values():
        missing = [s for s in info.fallbacks if s not in infos]
        if missing:
            raise ValueError(f"models.{info.slug}.fallbacks: unknown model '{missing[0]}'")
        info.fallback_infos = tuple(infos[s] for s in info.fallbacks)
    return infos
