"""The bundled catalog, token and cost estimates, and the RoutingRequest builder."""

from __future__ import annotations

import pytest

from routecar.router.catalog import MODEL_FIELDS, catalog_date, catalog_defaults, find_entry, load_catalog
from routecar.router.cost import (
    DEFAULT_OUTPUT_TOKENS, IMAGE_TOKENS, MESSAGE_OVERHEAD, REPLY_PRIMING, actual_cost,
    build_routing_request, est_prompt_tokens, estimate_cost, expected_output_tokens,
)
from routecar.router.strategies import est_cost


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


def test_prompt_tokens_count_text_messages_images_and_tools():
    text = "x" * 400
    body = {"messages": [{"role": "system", "content": "y" * 40}, {"role": "user", "content": text}]}
    base = est_prompt_tokens(body)
    assert base == (440 // 4) + 2 * MESSAGE_OVERHEAD + REPLY_PRIMING
    with_image = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "data:..."}}]}]}
    assert est_prompt_tokens(with_image) == 100 + MESSAGE_OVERHEAD + REPLY_PRIMING + IMAGE_TOKENS
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    assert est_prompt_tokens({**body, "tools": tools}) > base


def test_embedding_tokens():
    assert est_prompt_tokens({"input": "a" * 40}, "embeddings") == 11
    assert est_prompt_tokens({"input": ["a" * 40, "b" * 8]}, "embeddings") == 11 + 3
    assert est_prompt_tokens({"input": [1, 2, 3, 4]}, "embeddings") == 4


def test_build_routing_request_reads_every_flag():
    body = {
        "model": "support",
        "stream": True,
        "max_tokens": 900,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": [{"type": "text", "text": "my passport"},
                                         {"type": "image_url", "image_url": {"url": "u"}}]},
        ],
    }
    req = build_routing_request("chat", body, {"team": "billing"})
    assert req.model == "support" and req.endpoint == "chat"
    assert req.stream and req.has_tools and req.has_images and req.json_mode and req.json_schema
    assert req.last_user_text == "my passport"
    assert req.est_output_tokens == 900
    assert req.tags == {"team": "billing"}
    plain = build_routing_request("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                           "response_format": {"type": "json_object"}}, {})
    assert plain.json_mode and not plain.json_schema and not plain.stream and not plain.has_tools
    assert plain.est_output_tokens == DEFAULT_OUTPUT_TOKENS


def test_expected_output_is_capped_by_the_model(kit):
    small = kit.model("small", max_output_tokens=100)
    big = kit.model("big")
    req = kit.request("x", max_tokens=4000)
    assert expected_output_tokens(small, req) == 100
    assert expected_output_tokens(big, req) == 4000
    assert expected_output_tokens(big, kit.request("x")) == DEFAULT_OUTPUT_TOKENS
    assert expected_output_tokens(big, kit.request("x", endpoint="embeddings")) == 0


def test_estimate_and_actual_cost(kit):
    model = kit.model("m", price=(2.0, 8.0))
    assert estimate_cost(model, 1_000_000, 0) == pytest.approx(2.0)
    assert estimate_cost(model, 1000, 500) == pytest.approx((1000 * 2 + 500 * 8) / 1e6)
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 400}}
    # No cached price: cached tokens cost the normal input price.
    assert actual_cost(model, usage) == pytest.approx((1000 * 2 + 100 * 8) / 1e6)


def test_actual_cost_bills_cached_tokens_at_the_cached_price(kit):
    from routecar.config.model import ModelConfig, Price

    base = kit.model("m")
    model = ModelConfig(slug="m", deployments=base.deployments, price=Price(2.0, 8.0, 0.5))
    usage = {"prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 400}}
    assert actual_cost(model, usage) == pytest.approx((600 * 2 + 400 * 0.5 + 100 * 8) / 1e6)
    assert actual_cost(model, {"prompt_tokens": 10, "total_tokens": 10}) == pytest.approx(20 / 1e6)
    assert actual_cost(model, None) == 0.0


def test_router_hot_path_estimate_agrees_with_estimate_cost(kit):
    model = kit.model("m", price=(0.15, 0.6), max_output_tokens=50)
    req = kit.request("m", "hello " * 200, max_tokens=300)
    expected = estimate_cost(model, req.est_prompt_tokens, expected_output_tokens(model, req))
    assert est_cost(model, req) == pytest.approx(expected)
