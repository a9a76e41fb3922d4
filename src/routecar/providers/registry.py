"""Adapters by provider type; each protocol module is imported once, at start-up."""

from __future__ import annotations

import importlib

from .base import Adapter

_MODULES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}


def adapter_for(provider_type: str) -> Adapter:
    module = importlib.import_module(f".{_MODULES[provider_type]}", __package__)
    return module.ADAPTER


def load_adapters(types: set[str]) -> dict[str, Adapter]:
    return {t: adapter_for(t) for t in types}
