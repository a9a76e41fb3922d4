"""Adapters by provider type; each protocol module is imported once, at start-up.

A protocol's module is named after its provider type (`openai`, `anthropic`, `gemini`) and
exposes its adapter as `ADAPTER`; config's PROVIDER_TYPES lists the types there are. A type
whose requests need refreshed credentials (bedrock, vertex) also exposes
`credentials(provider) -> Credentials` (providers/credentials.py).
"""

from __future__ import annotations

import importlib

from ..config.model import PROVIDER_TYPES, ProviderConfig
from .base import Adapter
from .credentials import Credentials
from . import bedrock_anthropic, vertex_anthropic


def adapter_for(provider_type: str) -> Adapter:
    if provider_type not in PROVIDER_TYPES:
        raise KeyError(provider_type)
    return importlib.import_module(f".{provider_type}", __package__).ADAPTER


def load_adapters(types: set[str]) -> dict[str, Adapter]:
    return {t: adapter_for(t) for t in types}


def credentials_for(provider: ProviderConfig) -> Credentials | None:
    """New (not started) credentials for `provider`, or None when its type needs none."""
    make = getattr(importlib.import_module(f".{provider.type}", __package__), "credentials", None)
    return make(provider) if make is not None else None


def answer_protocol(provider_type: str, upstream_model: str) -> str:
    """The protocol a deployment answers an Anthropic app in: its provider type's, except Claude
    models on Vertex and on Bedrock (InvokeModel), which answer in Anthropic's, so /v1/messages
    passes their answers through too."""
    if provider_type == "vertex" and vertex_anthropic.is_claude(upstream_model):
        return "anthropic"
    if provider_type == "bedrock" and bedrock_anthropic.is_claude(upstream_model):
        return "anthropic"
    return provider_type
