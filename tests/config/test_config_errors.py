"""Every validation error names its full key path; all of them are reported at once."""

import copy
from typing import Any

import pytest
import yaml

from routecar.config import ConfigError, parse_config

BASE: dict[str, Any] = {
    "providers": {
        "openai": {"type": "openai", "base_url": "http://127.0.0.1:7401/v1"},
        "claude": {"type": "anthropic", "base_url": "http://127.0.0.1:7403"},
    },
    "models": {
        "gpt-4o": {"deployments": [{"provider": "openai"}]},
        "gpt-4o-mini": {"deployments": [{"provider": "openai"}], "fallbacks": ["claude-haiku"]},
        "claude-haiku": {"deployments": [{"provider": "claude"}]},
        "embed-small": {"capabilities": ["embeddings"], "deployments": [{"provider": "openai"}]},
    },
    "classifiers": {
        "difficulty": {"type": "heuristic"},
        "judge": {"type": "llm", "model": "gpt-4o-mini", "labels": ["easy", "hard"]},
    },
    "routes": {
        "fast": {"strategy": "fastest", "candidates": ["gpt-4o-mini", "claude-haiku"]},
        "cheap": {"strategy": "cheapest", "candidates": ["gpt-4o-mini", "claude-haiku"]},
    },
}

DELETE = object()


def build(**patches: Any) -> str:
    """BASE with `a__b__c=value` patches applied (DELETE removes the key), as YAML."""
    doc = copy.deepcopy(BASE)
    for dotted, value in patches.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return yaml.safe_dump(doc, sort_keys=False)


def errors_of(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, env=env or {})
    assert str(exc.value) == "\n".join(exc.value.errors)
    return exc.value.errors


def test_base_is_valid():
    parse_config(build(), env={})


CASES = [
    # top level and sections
    (dict(servers={}), "servers: unknown key (did you mean 'server'?)"),
    (dict(providers=DELETE), "providers: is required: at least one provider"),
    (dict(models={}), "models: is required: at least one model"),
    (dict(routes=["fast"]), "routes: must be a mapping, got a list"),
    # server
    (dict(server={"listen": ":7300"}), "server.listen: must be \"host:port\" with an explicit host"),
    (dict(server={"listen": "::1:7300"}), "server.listen: an IPv6 host needs brackets"),
    (dict(server={"listen": 7300}), "server.listen: must be a \"host:port\" string"),
    (dict(server={"admin_listen": "localhost:99999"}), "server.admin_listen: must be \"host:port\""),
    (dict(server={"listen": "127.0.0.1:7300", "admin_listen": "127.0.0.1:7300"}), "server.admin_listen: must differ from server.listen"),
    (dict(server={"max_body_bytes": "8 parsecs"}), "server.max_body_bytes: must be a size in bytes"),
    (dict(server={"drain_timeout": "soon"}), "server.drain_timeout: must be a duration"),
    (dict(server={"lisen": "127.0.0.1:1"}), "server.lisen: unknown key (did you mean 'listen'?)"),
    # providers
    (dict(providers__openai__type="openia"), "providers.openai.type: must be one of openai, anthropic, gemini, azure, bedrock, vertex, got 'openia'"),
    (dict(providers__openai__type=DELETE), "providers.openai.type: is required"),
    (dict(providers__openai__base_url=DELETE), "providers.openai.base_url: is required"),
    (dict(providers__openai__base_url="ftp://x"), "providers.openai.base_url: must be an http:// or https:// URL, got 'ftp://x'"),
    (dict(providers__openai__headers={"x-a": 5}), "providers.openai.headers.x-a: must be a string, got a value of type int"),
    (dict(providers__openai__headers={"bad name": "v"}), "providers.openai.headers.bad name: is not a valid HTTP header name"),
    (dict(providers__openai__timeouts={"connect": "fast"}), "providers.openai.timeouts.connect: must be a duration"),
    (dict(providers__openai__timeouts={"connect": 0}), "providers.openai.timeouts.connect: must be a duration > 0, got number 0"),
    (dict(providers__openai__timeouts={"conect": 1}), "providers.openai.timeouts.conect: unknown key (did you mean 'connect'?)"),
    (dict(providers__openai__max_connections=0), "providers.openai.max_connections: must be an integer >= 1, got number 0"),
    (dict(providers__openai__limits={"rpm": "lots"}), "providers.openai.limits.rpm: must be an integer >= 1, got string 'lots'"),
    (dict(providers__openai__retry_on=["4xx"]), "providers.openai.retry_on[0]: must be a status (100-599) or one of 429, 5xx, timeout, connect, got string '4xx'"),
    (dict(providers__openai__circuit_breaker={"failure_rate": 2}), "providers.openai.circuit_breaker.failure_rate: must be a fraction between 0 and 1, got number 2"),
    (dict(providers__openai__drop_unsupported_params="yes"), "providers.openai.drop_unsupported_params: must be true or false, got string 'yes'"),
    (dict(providers__openai__api_key_file="/nonexistent/routecar/key"), "providers.openai.api_key_file: cannot read '/nonexistent/routecar/key': No such file or directory"),
    (dict(providers__openai__api_key="k", providers__openai__api_key_file="/k"), "providers.openai.api_key_file: set either api_key or api_key_file, not both"),
    (dict(providers={"bad/name": {"type": "openai", "base_url": "http://x"}}), "providers.bad/name: provider names use letters"),
]

M = "models"


def model_patch(slug: str, **fields: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE["models"])
    doc[slug].update(fields)
    return {M: doc}


def route_patch(name: str, body: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE["routes"])
    doc[name] = body
    return {"routes": doc}


def fast(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE["routes"]["fast"])
    body.update(fields)
    return route_patch("fast", body)


CASES += [
    # models (slugs contain '-', so these patch whole sections)
    (model_patch("gpt-4o-mini", price={"input": -1}), "models.gpt-4o-mini.price.input: must be a number >= 0, got number -1"),
    (model_patch("gpt-4o-mini", price={"input": "abc"}), "models.gpt-4o-mini.price.input: must be a number >= 0, got string 'abc'"),
    (model_patch("gpt-4o-mini", price={"output": True}), "models.gpt-4o-mini.price.output: must be a number >= 0, got boolean true"),
    (model_patch("gpt-4o-mini", price={"inptu": 1}), "models.gpt-4o-mini.price.inptu: unknown key (did you mean 'input'?)"),
    (model_patch("gpt-4o-mini", context_window=0), "models.gpt-4o-mini.context_window: must be an integer >= 1, got number 0"),
    (model_patch("gpt-4o-mini", max_output_tokens=1.5), "models.gpt-4o-mini.max_output_tokens: must be an integer >= 1, got number 1.5"),
    (model_patch("gpt-4o-mini", capabilities=["chat", "telepathy"]), "models.gpt-4o-mini.capabilities[1]: must be one of chat, tools, vision, json_schema, embeddings, streaming, got string 'telepathy'"),
    (model_patch("gpt-4o-mini", quality="high"), "models.gpt-4o-mini.quality: must be a number, got string 'high'"),
    (model_patch("gpt-4o-mini", deployments=[]), "models.gpt-4o-mini.deployments: must not be empty"),
    (model_patch("gpt-4o-mini", deployments=[{"provider": "opneai"}]), "models.gpt-4o-mini.deployments[0].provider: unknown provider 'opneai' (did you mean 'openai'?)"),
    (model_patch("gpt-4o-mini", deployments=[{"model": "x"}]), "models.gpt-4o-mini.deployments[0].provider: is required"),
    (model_patch("gpt-4o-mini", deployments=[{"provider": "openai", "weight": 0}]), "models.gpt-4o-mini.deployments[0].weight: must be a number > 0, got number 0"),
    (model_patch("gpt-4o-mini", deployments=[{"provider": "openai"}, {"provider": "openai"}]), "models.gpt-4o-mini.deployments[1]: duplicates models.gpt-4o-mini.deployments[0] (openai/gpt-4o-mini)"),
    (model_patch("gpt-4o-mini", fallbacks=["claude-hiaku"]), "models.gpt-4o-mini.fallbacks[0]: unknown model 'claude-hiaku' (did you mean 'claude-haiku'?)"),
    (model_patch("gpt-4o-mini", fallbacks=["gpt-4o-mini"]), "models.gpt-4o-mini.fallbacks: a model cannot fall back to itself ('gpt-4o-mini')"),
    (model_patch("gpt-4o-mini", fallbacks=["embed-small"]), "models.gpt-4o-mini.fallbacks: 'embed-small' is an embeddings model but 'gpt-4o-mini' is a chat model"),
    # routes
    (route_patch("gpt-4o", {"strategy": "fastest", "candidates": ["gpt-4o-mini"]}), "routes.gpt-4o: route name 'gpt-4o' is also a model slug"),
    (fast(strategy="fastests"), "routes.fast.strategy: must be one of ordered, weighted, cheapest, fastest, balanced, quality, cascade, got 'fastests'"),
    (fast(strategy=None), "routes.fast.strategy: is required"),
    (fast(candidates=["gpt-4o-mini", "gpt-5o"]), "routes.fast.candidates[1]: unknown model 'gpt-5o' (did you mean 'gpt-4o'?)"),
    (fast(candidates=[]), "routes.fast.candidates: must not be empty"),
    (fast(candidates=["gpt-4o", "gpt-4o"]), "routes.fast.candidates[1]: 'gpt-4o' is listed twice"),
    (fast(candidates={"gpt-4o": 1}), "routes.fast.candidates: a {model: weight} mapping needs strategy: weighted"),
    (fast(strategy="weighted", candidates={"gpt-4o": -1}), "routes.fast.candidates.gpt-4o: must be a number >= 0, got number -1"),
    (fast(strategy="weighted", candidates={"gpt-5o": 1}), "routes.fast.candidates.gpt-5o: unknown model 'gpt-5o'"),
    (fast(candidates=["gpt-4o", "embed-small"]), "routes.fast.candidates: mixes embeddings models and chat models"),
    (fast(strategy="cascade", candidates=["gpt-4o"]), "routes.fast.candidates: a cascade needs at least 2 candidates"),
    (fast(strategy="cascade", cascade={"checks": ["json", "valid"]}), "routes.fast.cascade.checks[1]: must be one of json, json_schema, finish_reason, non_empty or {regex: PATTERN}, got string 'valid'"),
    (fast(strategy="cascade", cascade={"checks": [{"regex": "a("}]}), "routes.fast.cascade.checks[0].regex: invalid regex 'a(': missing ), unterminated subpattern at position 1"),
    (fast(rules=[{"when": {"matches": "(?P<x"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.matches: invalid regex '(?P<x': "),
    (fast(rules=[{"when": {"tags.team": 5}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.tags.team: must be a tag value (a non-empty string), got number 5"),
    (fast(rules=[{"when": {"prompt_tokens_gt": "many"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.prompt_tokens_gt: must be an integer >= 0, got string 'many'"),
    (fast(rules=[{"when": {"has_tool": True}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.has_tool: unknown condition (did you mean 'has_tools'?)"),
    (fast(rules=[{"when": {"has_images": "yes"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.has_images: must be true or false, got string 'yes'"),
    (fast(rules=[{"when": {"class.mood": "x"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.class.mood: unknown classifier 'mood'"),
    (fast(rules=[{"when": {"class.difficulty": "hard"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.class.difficulty: classifier 'difficulty' has no label 'hard' (labels: simple, moderate, complex)"),
    (fast(rules=[{"when": {"class.judge": "medium"}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.class.judge: classifier 'judge' has no label 'medium' (labels: easy, hard)"),
    (fast(rules=[{"when": {"tags": {"team": "x"}}, "then": {"strategy": "cheapest"}}]), "routes.fast.rules[0].when.tags: write one condition per tags key, e.g. `tags.team: billing`"),
    (fast(rules=[{"when": {"json_mode": True}, "then": {}}]), "routes.fast.rules[0].then: must set at least one of candidates, strategy, model"),
    (fast(rules=[{"when": {"json_mode": True}}]), "routes.fast.rules[0].then: is required"),
    (fast(rules=[{"when": {"json_mode": True}, "then": {"model": "gpt-5o"}}]), "routes.fast.rules[0].then.model: unknown model 'gpt-5o' (did you mean 'gpt-4o'?)"),
    (fast(rules=[{"when": {"json_mode": True}, "then": {"candidates": ["x"]}}]), "routes.fast.rules[0].then.candidates[0]: unknown model 'x'"),
    (fast(rules=[{"when": {"json_mode": True}, "then": {"strategy": "best"}}]), "routes.fast.rules[0].then.strategy: must be one of ordered"),
    (fast(rules=[{"when": {"json_mode": True}, "then": {"model": "gpt-4o", "candidates": ["gpt-4o"]}}]), "routes.fast.rules[0].then.model: set either model (pin one) or candidates (narrow the list), not both"),
    (fast(rules=[{"when": {"prompt_tokens_gt": 100, "prompt_tokens_lt": 50}, "then": {"model": "gpt-4o"}}]), "routes.fast.rules[0].when.prompt_tokens_lt: no prompt size is > 100 and < 50"),
    (fast(budget={"period": "week", "usd": 5}), "routes.fast.budget.period: must be one of hour, day, month, got 'week'"),
    (fast(budget={"period": "day", "usd": 0}), "routes.fast.budget.usd: must be a number > 0, got number 0"),
    (fast(budget={"period": "day"}), "routes.fast.budget.usd: is required"),
    (fast(budget={"period": "day", "usd": 1, "when_exceeded": "downgrade"}), "routes.fast.budget.downgrade_to: is required when when_exceeded is downgrade"),
    (fast(budget={"period": "day", "usd": 1, "when_exceeded": "downgrade", "downgrade_to": "cheep"}), "routes.fast.budget.downgrade_to: unknown route 'cheep' (did you mean 'cheap'?)"),
    (fast(budget={"period": "day", "usd": 1, "when_exceeded": "downgrade", "downgrade_to": "fast"}), "routes.fast.budget.downgrade_to: a route cannot downgrade to itself"),
    (fast(budget={"period": "day", "usd": 1, "downgrade_to": "cheap"}), "routes.fast.budget.downgrade_to: only applies with when_exceeded: downgrade"),
    (fast(budget={"period": "day", "usd": 1, "when_exceeded": "panic"}), "routes.fast.budget.when_exceeded: must be one of reject, downgrade, got 'panic'"),
    (fast(canary={"model": "gpt-4o", "percent": 150}), "routes.fast.canary.percent: must be a number between 0 and 100, got number 150"),
    (fast(canary={"model": "gpt-5o", "percent": 5}), "routes.fast.canary.model: unknown model 'gpt-5o' (did you mean 'gpt-4o'?)"),
    (fast(canary={"model": "gpt-4o", "percent": 5, "rollback": {"max_p95_ratio": 0.5}}), "routes.fast.canary.rollback.max_p95_ratio: must be a number >= 1, got number 0.5"),
    (fast(canary={"model": "gpt-4o", "percent": 5, "rollback": {"min_request": 5}}), "routes.fast.canary.rollback.min_request: unknown key (did you mean 'min_requests'?)"),
    (fast(shadow={"strategy": "psychic"}), "routes.fast.shadow.strategy: must be one of ordered"),
    (fast(shadow={}), "routes.fast.shadow.strategy: is required"),
    (fast(cache={"exact": {"ttl": "forever"}}), "routes.fast.cache.exact.ttl: must be a duration"),
    (fast(cache={"exact": {"max_entries": 0}}), "routes.fast.cache.exact.max_entries: must be an integer >= 1, got number 0"),
    (fast(cache={"semantic": {"model": "gpt-4o"}}), "routes.fast.cache.semantic.model: must be an embeddings model (capabilities: [embeddings]); 'gpt-4o' is not one"),
    (fast(cache={"semantic": {"model": "embed-small", "min_similarity": 1.5}}), "routes.fast.cache.semantic.min_similarity: must be a fraction between 0 and 1, got number 1.5"),
    (fast(cache={"semantic": {"min_similarity": 0.9}}), "routes.fast.cache.semantic.model: is required"),
    (fast(balance={"cost": -1}), "routes.fast.balance.cost: must be a number >= 0, got number -1"),
    (fast(balance={"cost": 0}), "routes.fast.balance: at least one of cost, latency, quality must be > 0"),
    (fast(max_ttft_p99="quick"), "routes.fast.max_ttft_p99: must be a duration"),
    (fast(priority=1), "routes.fast.priority: unknown key (expected one of: strategy, candidates, rules, cascade, budget, canary, shadow, cache, balance, max_ttft_p99, hedge)"),
    # classifiers
    ({"classifiers": {"c": {"type": "magic"}}}, "classifiers.c.type: must be one of heuristic, llm, embedding, got 'magic'"),
    ({"classifiers": {"c": {"type": "llm", "labels": ["a"]}}}, "classifiers.c.model: is required"),
    ({"classifiers": {"c": {"type": "llm", "model": "gpt-5o", "labels": ["a"]}}}, "classifiers.c.model: unknown model 'gpt-5o' (did you mean 'gpt-4o'?)"),
    ({"classifiers": {"c": {"type": "llm", "model": "gpt-4o", "labels": ["a"], "default": "b"}}}, "classifiers.c.default: must be one of the labels (a), got 'b'"),
    ({"classifiers": {"c": {"type": "llm", "model": "gpt-4o"}}}, "classifiers.c.labels: is required"),
    ({"classifiers": {"c": {"type": "llm", "model": "gpt-4o", "labels": ["a"], "timeout": "soon"}}}, "classifiers.c.timeout: must be a duration"),
    ({"classifiers": {"c": {"type": "embedding", "model": "gpt-4o", "labels": {"a": ["x"]}}}}, "classifiers.c.model: an embedding classifier needs an embeddings model"),
    ({"classifiers": {"c": {"type": "embedding", "model": "embed-small", "labels": {"a": []}}}}, "classifiers.c.labels.a: must not be empty"),
    ({"classifiers": {"c": {"type": "embedding", "model": "embed-small", "labels": ["a"]}}}, "classifiers.c.labels: must be a mapping, got a list"),
    ({"classifiers": {"c": {"type": "heuristic", "model": "gpt-4o"}}}, "classifiers.c.model: unknown key (expected one of: type)"),
    # resilience
    ({"resilience": {"retry": {"max_attempts": 0}}}, "resilience.retry.max_attempts: must be an integer >= 1, got number 0"),
    ({"resilience": {"retry": {"retry_on": [429, 700]}}}, "resilience.retry.retry_on[1]: must be a status (100-599)"),
    ({"resilience": {"retry": {"backoff": {"base": "1s", "max": "10ms"}}}}, "resilience.retry.backoff.max: must be >= backoff.base (1s), got 0.01s"),
    ({"resilience": {"retry": {"budget": {"ratio": 3}}}}, "resilience.retry.budget.ratio: must be a fraction between 0 and 1, got number 3"),
    ({"resilience": {"circuit_breaker": {"failure_rate": 0}}}, "resilience.circuit_breaker.failure_rate: must be a fraction > 0 and <= 1, got number 0"),
    ({"resilience": {"circuit_breaker": {"half_open_probes": 0}}}, "resilience.circuit_breaker.half_open_probes: must be an integer >= 1, got number 0"),
    ({"resilience": {"circuit_breaker": {"open_for": "1m", "max_open_for": "30s"}}}, "resilience.circuit_breaker.max_open_for: must be >= open_for (60s), got 30s"),
    ({"resilience": {"circuit_breaker": {"window": "0s"}}}, "resilience.circuit_breaker.window: must be a duration > 0"),
    ({"resilience": {"max_cooldown": "a while"}}, "resilience.max_cooldown: must be a duration"),
    # route_log
    ({"route_log": {"path": 5}}, "route_log.path: must be a string, got number 5"),
    ({"route_log": {"retention": "forever"}}, "route_log.retention: must be a duration"),
    ({"route_log": {"retention": {"max_rows": 0}}}, "route_log.retention.max_rows: must be an integer >= 1, got number 0"),
    ({"route_log": {"retention": {"rows": 5}}}, "route_log.retention.rows: unknown key (did you mean 'max_rows'?)"),
    ({"route_log": {"record_prompts": "no"}}, "route_log.record_prompts: must be true or false, got string 'no'"),
    ({"route_log": {"batch_size": 100, "queue_size": 10}}, "route_log.queue_size: must be >= batch_size (100), got 10"),
]


def _id(case: tuple[dict[str, Any], str]) -> str:
    return case[1].split(":")[0]


@pytest.mark.parametrize(("patch", "expected"), CASES, ids=[_id(c) for c in CASES])
def test_error_names_full_key_path(patch, expected):
    errors = errors_of(build(**patch))
    assert any(e.startswith(expected) for e in errors), errors


def test_all_errors_are_collected():
    text = build(
        providers={"openai": {"type": "openia", "base_url": "nope"}, "claude": {"type": "anthropic"}},
        models={"gpt-4o": {"deployments": [{"provider": "openai", "weight": -2}], "price": {"input": "x"}}},
        routes={"fast": {"strategy": "fastest", "candidates": ["gpt-5o"]}},
        classifiers={},
        resilience={"retry": {"max_attempts": 0}},
    )
    errors = errors_of(text)
    assert errors == [
        "resilience.retry.max_attempts: must be an integer >= 1, got number 0",
        "providers.openai.type: must be one of openai, anthropic, gemini, azure, bedrock, vertex, got 'openia' (did you mean 'openai'?)",
        "providers.openai.base_url: must be an http:// or https:// URL, got 'nope'",
        "providers.claude.base_url: is required",
        "models.gpt-4o.price.input: must be a number >= 0, got string 'x'",
        "models.gpt-4o.deployments[0].weight: must be a number > 0, got number -2",
        "routes.fast.candidates[0]: unknown model 'gpt-5o' (did you mean 'gpt-4o'?)",
    ]


def test_fallback_cycle_is_named():
    models = copy.deepcopy(BASE["models"])
    models["gpt-4o"]["fallbacks"] = ["gpt-4o-mini"]
    models["claude-haiku"]["fallbacks"] = ["gpt-4o"]
    errors = errors_of(build(models=models))
    cycles = [e for e in errors if "fallback cycle" in e]
    assert cycles == ["models.gpt-4o.fallbacks: fallback cycle gpt-4o -> gpt-4o-mini -> claude-haiku -> gpt-4o"]


def test_fallback_chain_without_cycle_is_fine():
    models = copy.deepcopy(BASE["models"])
    models["gpt-4o"]["fallbacks"] = ["gpt-4o-mini", "claude-haiku"]
    config = parse_config(build(models=models), env={})
    assert config.models["gpt-4o"].fallbacks == ("gpt-4o-mini", "claude-haiku")


def test_downgrade_cycle_is_named():
    routes = copy.deepcopy(BASE["routes"])
    routes["fast"]["budget"] = {"period": "day", "usd": 1, "when_exceeded": "downgrade", "downgrade_to": "cheap"}
    routes["cheap"]["budget"] = {"period": "day", "usd": 1, "when_exceeded": "downgrade", "downgrade_to": "fast"}
    errors = errors_of(build(routes=routes))
    assert errors == ["routes.fast.budget.downgrade_to: downgrade cycle fast -> cheap -> fast"]


def test_unset_env_var_outside_api_key_is_an_error():
    errors = errors_of(build(route_log={"path": "${LOG_DIR}/routes.db"}))
    assert errors == ["route_log.path: environment variable LOG_DIR is not set (use ${NAME:-default} for a default)"]


def test_malformed_interpolation_is_an_error():
    errors = errors_of(build(route_log={"path": "${LOG_DIR"}))
    assert errors == ["route_log.path: unterminated '${' (write '$${' for a literal '${')"]
    errors = errors_of(build(route_log={"path": "${1BAD}"}))
    assert errors[0].startswith("route_log.path: invalid variable reference '${1BAD}'")
