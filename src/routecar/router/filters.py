"""Hard filters: a model that cannot serve a request is never a candidate for it.

Filters say why in words an SRE reads in `routecar explain` ("context too small (8192 <
~12000 tokens)"), so a skipped candidate is never a mystery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config.model import ModelConfig
from .cost import DEFAULT_OUTPUT_TOKENS
from .plan import RoutingRequest

if TYPE_CHECKING:
    from .snapshot import ModelInfo

# ModelConfig's default capabilities: a model left at them did not declare any, so we only
# hold it to the capabilities everybody has (tools is in the default set, vision is not).
DEFAULT_CAPABILITIES = ModelConfig.__dataclass_fields__["capabilities"].default


def declares_capabilities(model: ModelConfig) -> bool:
    return model.capabilities != DEFAULT_CAPABILITIES


def unfit(info: ModelInfo, req: RoutingRequest) -> str | None:
    """Why the model cannot take `req`, or None when it can."""
    if (req.endpoint == "embeddings") is not info.embedding:
        return "embeddings model" if info.embedding else "not an embeddings model"
    window = info.window
    if window is not None:
        out = 0 if info.embedding else (req.est_output_tokens or DEFAULT_OUTPUT_TOKENS)
        cap = info.max_out
        if cap is not None and out > cap:
            out = cap
        need = req.est_prompt_tokens + out
        if need > window:
            return f"context too small ({window} < ~{need} tokens)"
    if req.has_tools and not info.tools:
        return "no tools capability"
    if req.has_images and not info.vision:
        return "no vision capability"
    if req.json_schema and not info.schema_ok:
        return "no json_schema capability"
    return None


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms" if seconds < 1 else f"{seconds:.1f}s"
