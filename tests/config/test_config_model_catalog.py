"""The bundled model catalog: complete, dated entries, found by slug or upstream name."""

from __future__ import annotations

import pytest

from routecar.config.model_catalog import MODEL_FIELDS, catalog_date, catalog_defaults, find_entry, load_catalog


def test_catalog_entries_are_complete_and_dated():
    catalog = load_catalog()
    assert catalog_date() >= "2025-01-01"
    for slug in ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small",
                 "claude-3-5-haiku", "claude-sonnet-4", "claude-opus-4-1", "gemini-2.0-flash",
                 "gemini-2.5-pro", "text-embedding-004", "llama-3.1-8b", "qwen2.5-7b", "mistral-small"):
        entry = catalog[slug]
        assert {"price", "context_window", "capabilities", "quality"} <= set(entry), slug
        assert entry["price"]["input"] >= 0 and entry["price"]["output"] >= 0
        assert 0 <= entry["quality"] <= 1
    assert "embeddings" in catalog["text-embedding-3-large"]["capabilities"]
    assert catalog["gpt-4o-mini"]["price"] == {"input": 0.15, "output": 0.60, "cached_input": 0.075}


@pytest.mark.parametrize("slug,upstream,expected", [
    ("gpt-4o-mini", [], "gpt-4o-mini"),
    ("claude-haiku", ["claude-3-5-haiku-latest"], "claude-3-5-haiku"),  # SPEC's minimal config
    ("sonnet", ["claude-3-5-sonnet-20241022"], "claude-3-5-sonnet"),
    ("local-qwen", ["Qwen/Qwen2.5-7B-Instruct"], "qwen2.5-7b"),
    ("fast", ["nothing-known", "llama3.1:8b"], "llama-3.1-8b"),
    ("GPT-4o", [], "gpt-4o"),
    ("gpt-4o-2024-05-13", [], "gpt-4o"),  # dated snapshot not listed: stripped to the family
])
def test_catalog_defaults_match_slug_or_upstream_names(slug, upstream, expected):
    defaults = catalog_defaults(slug, upstream)
    assert find_entry(expected) == expected
    assert defaults["quality"] == load_catalog()[expected]["quality"]
    assert set(defaults) <= set(MODEL_FIELDS)


def test_catalog_defaults_unknown_is_empty_and_copies_are_independent():
    assert catalog_defaults("my-finetune", ["acme/secret-model"]) == {}
    first = catalog_defaults("gpt-4o", [])
    first["price"]["input"] = 999
    first["capabilities"].append("x")
    assert catalog_defaults("gpt-4o", [])["price"]["input"] == 2.50
    assert "x" not in catalog_defaults("gpt-4o", [])["capabilities"]
