"""Adapters by provider type; each protocol module is imported once, at start-up.

A protocol's module is named after its provider type (`openai`, `anthropic`, `gemini`) and
exposes its adapter as `ADAPTER`; config's PROVIDER_TYPES lists the types there are.
"""

from __future__ import annotations

import importlib

from ..config.model import PROVIDER_TYPES
from .base import Adapter


def adapter_for(provider_type: str) -> Adapter:
    if provider_type not in PROVIDER_TYPES:
        raise KeyError(provider_type)
    return importlib.import_module(f".{provider_type}", __package__).ADAPTER


def load_adapters(types: set[str]) -> dict[str, Adapter]:
    return {t: adapter_for(t) for t in types}
