"""Token and cost estimates, and the RoutingRequest builder."""

from __future__ import annotations

import pytest

from routecar.router.cost import (
    DEFAULT_OUTPUT_TOKENS, IMAGE_TOKENS, MESSAGE_OVERHEAD, REPLY_PRIMING, actual_cost,
    build_routing_request, est_prompt_tokens, estimated_costs, expected_output_tokens,
)
from routecar.router.model_info import ModelInfo
from routecar.router.plan import RoutingRequest


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
    small = ModelInfo(kit.model("small", max_output_tokens=100))
    big = ModelInfo(kit.model("big"))
    req = kit.request("x", max_tokens=4000)
    assert expected_output_tokens(req, small.out_cap) == 100
    assert expected_output_tokens(req, big.out_cap) == expected_output_tokens(req) == 4000
    assert expected_output_tokens(kit.request("x")) == DEFAULT_OUTPUT_TOKENS
    assert expected_output_tokens(kit.request("x", endpoint="embeddings"), small.out_cap) == 0


def test_estimated_and_actual_cost(kit):
    model = kit.model("m", price=(2.0, 8.0))
    capped = kit.model("capped", price=(2.0, 8.0), max_output_tokens=100)
    req = RoutingRequest("m", "chat", {}, est_prompt_tokens=1000, est_output_tokens=500)
    assert estimated_costs([ModelInfo(model), ModelInfo(capped)], req) == pytest.approx(
        [(1000 * 2 + 500 * 8) / 1e6, (1000 * 2 + 100 * 8) / 1e6])
    embed = RoutingRequest("m", "embeddings", {}, est_prompt_tokens=1_000_000)
    assert estimated_costs([ModelInfo(model)], embed) == pytest.approx([2.0])
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


def test_the_plan_prices_its_first_candidate_as_the_strategies_do(kit):
    models = [kit.model("m", price=(0.15, 0.6), max_output_tokens=50), kit.model("n", price=(5.0, 15.0))]
    router = kit.router(kit.config(models, [kit.route("r", "cheapest", ["n", "m"])]))
    req = kit.request("r", "hello " * 200, max_tokens=300)
    plan = router.plan(req)
    expected = (req.est_prompt_tokens * 0.15 + 50 * 0.6) / 1e6  # output capped by the model
    assert plan.est_cost_usd == pytest.approx(expected) == plan.scores()[0]["score"]
