"""Hard filters: a model that cannot serve a request is never a candidate for it.

Filters say why in words an SRE reads in `routecar explain` ("context too small (8192 <
~12000 tokens)"), so a skipped candidate is never a mystery.
"""

from __future__ import annotations


from .cost import expected_output_tokens
from .model_info import ModelInfo
from .plan import RoutingRequest

# ModelConfig's default capabilities: a model left at them did not declare any, so we only
# hold it to the capabilities everybody has (tools is in the default set, vision is not).
def unfit(info: ModelInfo, req: RoutingRequest) -> str | None:
    """Why the model cannot take `req`, or None when it can."""
    if (req.endpoint == "embeddings") is not info.embedding:
        return "embeddings model" if info.embedding else "not an embeddings model"
    window = info.window
    if window is not None:
        need = req.est_prompt_tokens + expected_output_tokens(req, info.out_cap)
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
