"""Rules (conditions, actions, first match) and the hard filters (window, capabilities,
endpoint kind, TTFT objective)."""

from __future__ import annotations

import re
from types import MappingProxyType

import pytest

from routecar.config.model import Rule, RuleAction
from routecar.router.plan import RoutingError


def rule(when: dict, **then) -> Rule:
    return Rule(when=MappingProxyType(when), then=RuleAction(**{
        k: tuple(v) if k == "candidates" else v for k, v in then.items()}))


def first(plan) -> str:
    return plan.candidates[0].slug


@pytest.fixture
def support(kit):
    """The SPEC's support route: cheapest over two hosted models, plus a self-hosted one."""
    models = [
        kit.model("gpt-4o-mini", "openai", price=(0.15, 0.6), quality=0.6,
                  capabilities=["chat", "tools", "vision", "json_schema", "streaming"]),
        kit.model("claude-haiku", "anthropic", price=(0.8, 4.0), quality=0.7,
                  capabilities=["chat", "tools", "vision", "streaming"]),
        kit.model("claude-sonnet", "anthropic", price=(3.0, 15.0), quality=0.9),
        kit.model("local-llm", "local", price=(0.0, 0.0), context_window=32768),
    ]
    rules = [
        rule({"tags.team": "billing"}, candidates=["claude-haiku"]),
        rule({"matches": "(?i)passport|social security"}, model="local-llm"),
        rule({"class.difficulty": "complex"}, strategy="quality"),
        rule({"prompt_tokens_gt": 5000, "has_tools": True}, candidates=["claude-sonnet", "gpt-4o-mini"],
             strategy="ordered"),
        rule({"prompt_tokens_lt": 10, "json_mode": True}, model="claude-sonnet"),
        rule({"has_images": True}, candidates=["claude-haiku", "gpt-4o-mini"], strategy="ordered"),
    ]
    route = kit.route("support", "cheapest", ["gpt-4o-mini", "claude-haiku", "claude-sonnet"], rules=rules)
    return kit.router(kit.config(models, [route]))


def test_no_rule_matches_strategy_decides(support, kit):
    plan = support.plan(kit.request("support", "please help with my order " * 5))
    assert first(plan) == "gpt-4o-mini" and plan.rules_matched == ()
    assert plan.reason.startswith("route 'support' cheapest: gpt-4o-mini")


def test_tag_condition_replaces_candidates(support, kit):
    plan = support.plan(kit.request("support", tags={"team": "billing"}))
    assert [c.slug for c in plan.candidates] == ["claude-haiku"]
    assert plan.rules_matched == ("rules[0]: tags.team",)
    assert plan.reason.startswith("rules[0]: tags.team -> candidates [claude-haiku]; ")
    assert first(support.plan(kit.request("support", tags={"team": "search"}))) == "gpt-4o-mini"


def test_pii_regex_pins_the_self_hosted_model(support, kit):
    plan = support.plan(kit.request("support", "Here is my Social Security number 123-45-6789"))
    assert [c.slug for c in plan.candidates] == ["local-llm"]
    assert plan.rules_matched == ("rules[1]: matches",)
    assert "pinned model local-llm" in plan.reason
    # Only the last user message is searched.
    from routecar.router.cost import build_routing_request

    body = {"model": "support", "messages": [
        {"role": "user", "content": "my passport"}, {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "what now?"}]}
    assert first(support.plan(build_routing_request("chat", body, {}))) == "gpt-4o-mini"


def test_class_condition_changes_strategy(support, kit):
    plan = support.plan(kit.request("support", classes={"difficulty": "complex"}))
    assert plan.strategy == "quality" and first(plan) == "claude-sonnet"
    assert first(support.plan(kit.request("support", classes={"difficulty": "simple"}))) == "gpt-4o-mini"


def test_all_conditions_of_a_rule_must_hold(support, kit):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    big = "word " * 6000
    plan = support.plan(kit.request("support", big, tools=tools))
    assert plan.rules_matched == ("rules[3]: prompt_tokens_gt, has_tools",)
    assert [c.slug for c in plan.candidates][:2] == ["claude-sonnet", "gpt-4o-mini"]
    assert support.plan(kit.request("support", big)).rules_matched == ()
    assert support.plan(kit.request("support", "short", tools=tools)).rules_matched == ()


def test_prompt_tokens_lt_and_json_mode(support, kit):
    plan = support.plan(kit.request("support", "hi", response_format={"type": "json_object"}))
    assert plan.rules_matched == ("rules[4]: prompt_tokens_lt, json_mode",)
    assert first(plan) == "claude-sonnet"


def test_has_images_condition(support, kit):
    req = kit.request("support")
    req.has_images = True
    plan = support.plan(req)
    assert plan.rules_matched == ("rules[5]: has_images",)
    assert [c.slug for c in plan.candidates] == ["claude-haiku", "gpt-4o-mini"]


def test_first_match_wins(support, kit):
    plan = support.plan(kit.request("support", "my passport", tags={"team": "billing"}))
    assert plan.rules_matched == ("rules[0]: tags.team",)


def test_compiled_patterns_from_the_loader_work(kit):
    cfg = kit.config([kit.model("a"), kit.model("b")], [kit.route("r", "ordered", ["a", "b"], rules=[
        rule({"matches": re.compile(r"\bSSN\s*\d{3}-\d{2}")}, model="b"),
        rule({"matches": re.compile("invoice|refund", re.IGNORECASE)}, candidates=["b"]),
    ])])
    router = kit.router(cfg)
    assert first(router.plan(kit.request("r", "my SSN 123-45-6789"))) == "b"
    assert router.plan(kit.request("r", "A REFUND please")).rules_matched == ("rules[1]: matches",)
    assert first(router.plan(kit.request("r", "ssn"))) == "a"


def test_invalid_rules_are_config_errors(kit):
    models = [kit.model("a")]
    with pytest.raises(ValueError, match=r"routes.r.rules\[0\].when: unknown condition 'colour'"):
        kit.router(kit.config(models, [kit.route("r", "ordered", ["a"], rules=[rule({"colour": "red"}, model="a")])]))
    with pytest.raises(ValueError, match="invalid regex"):
        kit.router(kit.config(models, [kit.route("r", "ordered", ["a"], rules=[rule({"matches": "("}, model="a")])]))
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        kit.router(kit.config(models, [kit.route("r", "ordered", ["a"], rules=[rule({}, model="nope")])]))


def test_prompt_that_does_not_fit_never_appears(kit):
    cfg = kit.config([kit.model("small", context_window=8192), kit.model("large", context_window=200000)],
                     [kit.route("r", "cheapest", ["small", "large"])])
    router = kit.router(cfg)
    req = kit.request("r", "word " * 48000)  # ~60000 tokens
    for _ in range(20):
        plan = router.plan(req)
        assert [c.slug for c in plan.candidates] == ["large"]
    (skip,) = plan.skipped
    assert skip["slug"] == "small" and skip["deployment"] is None
    assert re.fullmatch(r"context too small \(8192 < ~\d+ tokens\)", skip["why"])
    assert skip["why"].endswith(f"~{req.est_prompt_tokens + 256} tokens)")


def test_nothing_fits_is_a_400_naming_each_reason(kit):
    cfg = kit.config([kit.model("small", context_window=1000)], [kit.route("r", "ordered", ["small"])])
    with pytest.raises(RoutingError) as err:
        kit.router(cfg).plan(kit.request("r", "word " * 2000))
    assert err.value.status == 400 and err.value.code == "context_length_exceeded"
    assert "small: context too small (1000" in str(err.value)


def test_fallback_with_a_larger_window_serves_what_the_model_cannot(kit):
    cfg = kit.config([kit.model("small", context_window=1000, fallbacks=["large"]),
                      kit.model("large", context_window=100000)], [])
    plan = kit.router(cfg).plan(kit.request("small", "word " * 2000))
    assert [c.slug for c in plan.candidates] == ["large"]
    assert plan.reason == "explicit model 'small', served by fallback large"


def test_capability_filters(kit):
    declared = ["chat", "streaming"]
    cfg = kit.config([
        kit.model("text-only", capabilities=declared),
        kit.model("vision", capabilities=["chat", "tools", "vision", "json_schema"]),
        kit.model("undeclared"),  # default capabilities: chat, tools, streaming
    ], [kit.route("r", "ordered", ["text-only", "vision", "undeclared"])])
    router = kit.router(cfg)
    tools = [{"type": "function", "function": {"name": "f"}}]
    plan = router.plan(kit.request("r", tools=tools))
    assert [c.slug for c in plan.candidates] == ["vision", "undeclared"]
    assert plan.skipped == ({"slug": "text-only", "deployment": None, "why": "no tools capability"},)
    req = kit.request("r")
    req.has_images = True
    plan = router.plan(req)
    assert [c.slug for c in plan.candidates] == ["vision"]
    assert {s["why"] for s in plan.skipped} == {"no vision capability"}
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    plan = router.plan(kit.request("r", response_format=schema))
    # json_schema is enforced only where capabilities are declared.
    assert [c.slug for c in plan.candidates] == ["vision", "undeclared"]
    assert plan.skipped[0]["why"] == "no json_schema capability"


def test_embeddings_and_chat_do_not_mix(kit):
    cfg = kit.config([kit.model("chat"), kit.model("embed", capabilities=["embeddings"], context_window=8191)], [])
    router = kit.router(cfg)
    with pytest.raises(RoutingError, match="not an embeddings model"):
        router.plan(kit.request("chat", endpoint="embeddings"))
    with pytest.raises(RoutingError, match="embeddings model"):
        router.plan(kit.request("embed"))
    plan = router.plan(kit.request("embed", "some text", endpoint="embeddings"))
    assert plan.candidates[0].slug == "embed"


def test_ttft_objective_skips_slow_deployments_while_another_meets_it(kit):
    cfg = kit.config([kit.model("a", ("p1", "a", 1), ("p2", "a", 1)), kit.model("b", "p3")],
                     [kit.route("r", "ordered", ["a", "b"], max_ttft_p99=0.8)])
    kit.health.measured("p1/a", 0.5, p99=1.2)
    kit.health.measured("p2/a", 0.2, p99=0.4)
    plan = kit.router(cfg).plan(kit.request("r"))
    assert [c.dep_id for c in plan.candidates] == ["p2/a", "p3/b"]  # b has no data: not known slow
    assert plan.skipped == ({"slug": "a", "deployment": "p1/a", "why": "ttft p99 1.2s > 800ms objective"},)
    kit.health.measured("p2/a", 0.5, p99=0.9)
    kit.health.measured("p3/b", 0.5, p99=1.0)
    plan = kit.router(cfg).plan(kit.request("r"))
    assert len(plan.candidates) == 3 and plan.skipped == ()  # nobody meets it: keep all


def test_unknown_model_is_404_with_close_names(kit):
    cfg = kit.config([kit.model("gpt-4o-mini")], [kit.route("support", "ordered", ["gpt-4o-mini"])])
    with pytest.raises(RoutingError) as err:
        kit.router(cfg).plan(kit.request("gpt-4o-mnii"))
    assert err.value.status == 404 and err.value.code == "model_not_found"
    assert "gpt-4o-mini" in str(err.value)
