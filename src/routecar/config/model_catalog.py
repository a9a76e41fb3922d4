"""The bundled model catalog (`routecar/data/catalog.yaml`): defaults for model fields.

Read once, lazily, from package data (never from the network). The loader asks
`catalog_defaults` for each `models.SLUG` so a sidecar.yaml may give only deployments and
still get prices, context window, capabilities and a quality prior.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import yaml

# Read by path next to the package (a plain file in every install we ship), which spares
# start-up the importlib.resources/zipfile machinery.
_CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalog.yaml"

# Fields of ModelConfig the catalog can fill; anything else in an entry is catalog bookkeeping.
MODEL_FIELDS = ("price", "context_window", "max_output_tokens", "capabilities", "quality")

# Provider names carry snapshot dates and aliases ("-20241022", "-2024-08-06", "-latest",
# "-001"); stripping them lets a dated deployment find its family's entry.
_SUFFIX = re.compile(r"(?:-(?:latest|preview|\d{8}|\d{4}-\d{2}-\d{2}|\d{3}))+$")
# Bedrock ids wrap the provider's name: an inference profile's region ("us."), the vendor
# ("anthropic.") and a version ("-v2:0"): "us.anthropic.claude-3-5-haiku-20241022-v1:0".
_BEDROCK = re.compile(
    r"^(?:(?:us|eu|apac|us-gov|global|jp|au|ca)\.)?"
    r"(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|writer|qwen|openai)\.(.+?)(?:-v\d+)?(?::\d+)?$"
)


@functools.cache
def load_catalog() -> dict[str, dict[str, Any]]:
    """Catalog entries by slug (cached: the file is package data and never changes at runtime)."""
    text = _CATALOG.read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return dict(doc["models"])


def catalog_date() -> str:
    text = _CATALOG.read_text(encoding="utf-8")
    match = re.search(r"^as_of:\s*(\S+)", text, re.MULTILINE)
    return match.group(1) if match else ""


@functools.cache
def _index() -> dict[str, str]:
    """Lower-cased names (slug, upstream names, their stripped forms) to catalog slug."""
    index: dict[str, str] = {}
    for slug, entry in load_catalog().items():
        for name in (slug, *entry.get("upstream", ())):
            for key in _keys(name):
                index.setdefault(key, slug)
    return index


def _keys(name: str) -> list[str]:
    lowered = name.strip().lower()
    keys = [lowered]
    base = lowered.rsplit("/", 1)[-1]  # "meta-llama/Llama-3.1-8B-Instruct", "models/x", an ARN
    if base != lowered:
        keys.append(base)
    bedrock = _BEDROCK.match(base)
    if bedrock:
        keys.append(bedrock.group(1))
    for key in list(keys):
        stripped = _SUFFIX.sub("", key)
        if stripped and stripped != key:
            keys.append(stripped)
    return keys


def find_entry(name: str) -> str | None:
    """The catalog slug a model or upstream name belongs to, or None."""
    index = _index()
    for key in _keys(name):
        slug = index.get(key)
        if slug is not None:
            return slug
    return None


def catalog_defaults(slug: str, upstream_models: list[str]) -> dict[str, Any]:
    """Catalog values for a model slug, else for the first of its deployments' upstream names.

    Returns a fresh dict with a subset of MODEL_FIELDS (`price` as {input, output,
    cached_input}, `capabilities` as a list); empty when nothing matches.
    """
    for name in (slug, *upstream_models):
        found = find_entry(name)
        if found is not None:
            entry = load_catalog()[found]
            return {k: copy.deepcopy(entry[k]) for k in MODEL_FIELDS if k in entry}
    return {}
