"""Configs that must load: SPEC §4's files, the repo's example, and the defaults."""

import re
from pathlib import Path

import pytest
import yaml

from routecar.config import Config, ConfigError, load_config, parse_config
from routecar.config.describe import format_config
from routecar.config.model import BreakerConfig, CascadeConfig, Listen, ResilienceConfig, RouteLogConfig, ServerConfig

REPO = Path(__file__).resolve().parents[2]
ENV = {"OPENAI_API_KEY": "sk-test-openai", "ANTHROPIC_API_KEY": "sk-ant-test"}

# Copied verbatim from SPEC §4.
SPEC_MINIMAL = """
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: "${OPENAI_API_KEY}"
  anthropic:
    type: anthropic
    base_url: https://api.anthropic.com
    api_key: "${ANTHROPIC_API_KEY}"
  local:
    type: openai
    base_url: http://vllm.default.svc:8000/v1
models:
  gpt-4o-mini:
    price: {input: 0.15, output: 0.60}          # USD per 1M tokens
    context_window: 128000
    deployments:
      - {provider: openai, model: gpt-4o-mini, weight: 3}
      - {provider: local,  model: qwen2.5-7b,  weight: 1}
    fallbacks: [claude-haiku]
  claude-haiku:
    price: {input: 0.80, output: 4.00}
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest}
routes:
  fast:  {strategy: fastest,  candidates: [gpt-4o-mini, claude-haiku]}
  cheap: {strategy: cheapest, candidates: [gpt-4o-mini, claude-haiku]}
resilience:
  retry: {max_attempts: 3, retry_on: [429, 5xx, timeout, connect]}
  circuit_breaker: {window: 30s, min_requests: 10, failure_rate: 0.5, consecutive_failures: 5, open_for: 30s, half_open_probes: 1}
route_log:
  path: ./routes.db
"""

# Copied verbatim from SPEC §4 ("Routing features, in the same file").
SPEC_ROUTING = """
classifiers:
  difficulty: {type: heuristic}                       # simple | moderate | complex, no call
  judge: {type: llm, model: gpt-4o-mini, labels: [simple, moderate, complex], timeout: 300ms, default: moderate}
  topic: {type: embedding, model: embed-small, min_similarity: 0.6, default: other,
          labels: {billing: ["refund my order", "update my card"], tech: ["the app crashes on start"]}}
routes:
  support:
    strategy: cheapest
    candidates: [gpt-4o-mini, claude-haiku]
    rules:                                            # first match wins, before the strategy
      - when: {tags.team: billing}
        then: {candidates: [claude-haiku]}
      - when: {matches: "(?i)passport|social security"}
        then: {model: local-llm}                      # pin one model
      - when: {class.difficulty: complex}
        then: {strategy: quality}
    budget: {period: day, usd: 50, when_exceeded: reject}     # or: when_exceeded: downgrade, downgrade_to: cheap
    canary: {model: new-model, percent: 5}
    shadow: {strategy: fastest}
    cache: {exact: {ttl: 10m, max_entries: 10000}}
  extract:
    strategy: cascade
    candidates: [gpt-4o-mini, claude-sonnet]          # the steps, cheapest first
    cascade: {checks: [json, finish_reason, non_empty]}
"""

# The routing example names models the minimal file does not define.
EXTRA_MODELS = """
embed-small: {capabilities: [embeddings], deployments: [{provider: openai, model: text-embedding-3-small}]}
local-llm: {deployments: [{provider: local, model: llama-3.1-8b}]}
new-model: {deployments: [{provider: openai, model: gpt-4.1-mini}]}
claude-sonnet: {price: {input: 3, output: 15}, deployments: [{provider: anthropic, model: claude-sonnet-4}]}
"""


def merged_spec() -> str:
    base = yaml.safe_load(SPEC_MINIMAL)
    routing = yaml.safe_load(SPEC_ROUTING)
    base["models"].update(yaml.safe_load(EXTRA_MODELS))
    base["routes"].update(routing["routes"])
    base["classifiers"] = routing["classifiers"]
    return yaml.safe_dump(base, sort_keys=False)


def test_spec_minimal_file_loads():
    config = parse_config(SPEC_MINIMAL, env=ENV)
    assert isinstance(config, Config)
    assert set(config.providers) == {"openai", "anthropic", "local"}
    assert config.providers["openai"].api_key == "sk-test-openai"
    assert config.providers["local"].api_key is None
    assert config.providers["local"].base_url == "http://vllm.default.svc:8000/v1"
    mini = config.models["gpt-4o-mini"]
    assert [(d.provider, d.model, d.weight) for d in mini.deployments] == [
        ("openai", "gpt-4o-mini", 3.0),
        ("local", "qwen2.5-7b", 1.0),
    ]
    assert mini.price.input == 0.15 and mini.price.output == 0.60 and mini.context_window == 128000
    assert mini.fallbacks == ("claude-haiku",)
    assert config.routes["fast"].strategy == "fastest"
    assert config.routes["cheap"].candidates == ("gpt-4o-mini", "claude-haiku")
    # 429 written as a number is the "429" class, as in the default.
    assert config.resilience.retry.retry_on == frozenset({"429", "5xx", "timeout", "connect"})
    assert config.resilience.circuit_breaker == BreakerConfig()
    assert config.route_log.path == "./routes.db"
    assert config.warnings == ()
    assert config.names() == ["cheap", "claude-haiku", "fast", "gpt-4o-mini"]


def test_spec_routing_features_merged_into_minimal_load():
    config = parse_config(merged_spec(), env=ENV)
    support = config.routes["support"]
    assert [dict(r.when) for r in support.rules][0] == {"tags.team": "billing"}
    assert support.rules[0].then.candidates == ("claude-haiku",)
    assert support.rules[1].when["matches"].search("my Passport number")
    assert support.rules[1].then.model == "local-llm"
    assert support.rules[2].when == {"class.difficulty": "complex"}
    assert support.rules[2].then.strategy == "quality"
    assert support.budget.period == "day" and support.budget.usd == 50 and support.budget.when_exceeded == "reject"
    assert support.canary.model == "new-model" and support.canary.percent == 5
    assert support.shadow.strategy == "fastest"
    assert support.cache.exact.ttl == 600 and support.cache.exact.max_entries == 10000
    assert support.cache.semantic is None
    extract = config.routes["extract"]
    assert extract.cascade == CascadeConfig(checks=("json", "finish_reason", "non_empty"))
    judge = config.classifiers["judge"]
    assert judge.labels == ("simple", "moderate", "complex") and judge.timeout == 0.3
    topic = config.classifiers["topic"]
    assert topic.labels["billing"] == ("refund my order", "update my card")
    assert topic.default == "other" and topic.min_similarity == 0.6
    assert config.classifiers["difficulty"].type == "heuristic"
    assert config.models["embed-small"].is_embedding


def test_repo_example_sidecar_yaml_loads_without_errors():
    config = load_config(REPO / "sidecar.yaml", env={})
    assert [p.base_url for p in config.providers.values()] == [
        "http://127.0.0.1:7401/v1",
        "http://127.0.0.1:7402/v1",
        "http://127.0.0.1:7403",
    ]
    assert [p.type for p in config.providers.values()] == ["openai", "openai", "anthropic"]
    weights = [d.weight for d in config.models["gpt-4o-mini"].deployments]
    assert weights == [3.0, 1.0]
    assert config.models["gpt-4o-mini"].fallbacks
    assert config.models["embed-small"].is_embedding
    assert {"fast", "cheap", "support"} <= set(config.routes)
    assert config.routes["support"].rules
    assert config.resilience == ResilienceConfig(
        retry=config.resilience.retry, circuit_breaker=BreakerConfig(), max_cooldown=300.0
    )
    assert config.server == ServerConfig()
    assert config.route_log == RouteLogConfig()
    assert config.warnings == ()


def test_defaults_fill_missing_sections():
    config = parse_config(
        "providers: {p: {type: openai, base_url: 'http://127.0.0.1:9/v1'}}\n"
        "models: {m: {deployments: [{provider: p}]}}\n"
    )
    assert config.server.listen == Listen("127.0.0.1", 7300)
    assert config.server == ServerConfig()
    assert config.resilience == ResilienceConfig()
    assert config.route_log == RouteLogConfig()
    assert dict(config.routes) == {} and dict(config.classifiers) == {}
    assert config.models["m"].deployments[0].model == "m"  # upstream model defaults to the slug
    assert config.models["m"].deployments[0].weight == 1.0


def test_null_sections_mean_defaults():
    config = parse_config(
        "server:\nroutes:\nclassifiers:\nresilience:\nroute_log:\n"
        "providers: {p: {type: openai, base_url: 'http://127.0.0.1:9', headers: }}\n"
        "models: {m: {deployments: [{provider: p}], context_window: }}\n"
    )
    assert config.server == ServerConfig() and config.models["m"].context_window is None


def test_full_options():
    text = """
server: {listen: "[::1]:8300", admin_listen: "0.0.0.0:8301", max_body_bytes: 512KB, drain_timeout: 1m}
providers:
  p:
    type: gemini
    base_url: https://example.test/
    headers: {x-team: search}
    timeouts: {connect: 500ms, first_token: 10s, idle: 20s, total: 2m}
    max_connections: 4
    limits: {rpm: 60, tpm: 100000}
    retry_on: [503, "5xx", timeout]
    circuit_breaker: {open_for: 10m}
    drop_unsupported_params: true
models:
  a: {deployments: [{provider: p}], quality: 0.9, price: {input: 1, output: 2, cached_input: 0.5}}
  b: {deployments: [{provider: p}], quality: 0.5}
  e: {deployments: [{provider: p}], capabilities: [embeddings]}
routes:
  w: {strategy: weighted, candidates: {a: 3, b: 1}}
  bal:
    strategy: balanced
    candidates: [a, b]
    balance: {cost: 1, latency: 2}
    max_ttft_p99: 2s
    canary: {model: b, percent: 10, rollback: {min_requests: 50}}
    budget: {period: month, usd: 100, when_exceeded: downgrade, downgrade_to: w, per_tag: team}
    cache: {semantic: {model: e, min_similarity: 0.9}, exact: true}
    cascade: {checks: [{regex: "^\\\\{"}]}
    rules: [{when: {prompt_tokens_gt: 10, prompt_tokens_lt: 100, has_tools: true, json_mode: false}, then: {strategy: cascade}}]
resilience:
  retry: {backoff: {base: 10ms, max: 2s}, budget: {ratio: 10%, min_per_second: 1}}
  max_cooldown: 1m
route_log: {path: /var/lib/routecar/r.db, retention: 30d, record_prompts: true, batch_size: 10, queue_size: 100}
"""
    config = parse_config(text)
    assert config.server.listen == Listen("::1", 8300) and config.server.max_body_bytes == 512_000
    p = config.providers["p"]
    assert p.base_url == "https://example.test" and dict(p.headers) == {"x-team": "search"}
    assert p.timeouts.connect == 0.5 and p.limits.tpm == 100000 and p.drop_unsupported_params
    assert config.retry_on_for("p") == frozenset({503, "5xx", "timeout"})
    # The override is merged over the global breaker; its cap never undercuts its open_for.
    assert config.breaker_for("p") == BreakerConfig(open_for=600, max_open_for=600)
    w = config.routes["w"]
    assert w.candidates == ("a", "b") and dict(w.weights) == {"a": 3.0, "b": 1.0}
    bal = config.routes["bal"]
    assert dict(bal.balance) == {"cost": 1.0, "latency": 2.0, "quality": 0.0}
    assert bal.canary.rollback["min_requests"] == 50 and bal.canary.rollback["max_p95_ratio"] == 1.5
    assert bal.budget.downgrade_to == "w" and bal.budget.per_tag == "team"
    assert bal.cache.semantic.model == "e" and bal.cache.exact.ttl == 600
    assert bal.cascade.checks == (("regex", "^\\{"),)
    assert bal.rules[0].when == {"prompt_tokens_gt": 10, "prompt_tokens_lt": 100, "has_tools": True, "json_mode": False}
    assert config.resilience.retry.budget.ratio == pytest.approx(0.1)
    assert config.route_log.retention.max_age == 30 * 86400 and config.route_log.retention.max_rows == 1_000_000
    assert "unused" not in format_config(config)


def test_load_config_hash_and_source(tmp_path):
    path = tmp_path / "sidecar.yaml"
    path.write_text(SPEC_MINIMAL)
    config = load_config(path, env=ENV)
    import hashlib

    assert config.hash == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert re.fullmatch(r"[0-9a-f]{12}", config.hash)
    assert config.source == str(path)
    assert parse_config(SPEC_MINIMAL, env=ENV).hash == config.hash


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_load_config_directory(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_invalid_yaml_reports_line_and_column(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  openai: {type: openai\nmodels: [\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: invalid YAML: ", str(exc.value))


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match=r"^<string>: must be a mapping of sections .*got a list"):
        parse_config("- a\n- b\n")


def test_empty_file_needs_providers_and_models():
    with pytest.raises(ConfigError) as exc:
        parse_config("")
    assert exc.value.errors == ["providers: is required: at least one provider", "models: is required: at least one model"]


def test_duplicate_keys_are_errors_not_dropped():
    text = "providers:\n  p: {type: openai, base_url: 'http://x'}\n  p: {type: openai, base_url: 'http://y'}\n"
    with pytest.raises(ConfigError, match=r"^cfg.yaml:3:3: duplicate key 'p'"):
        parse_config(text, source="cfg.yaml")


def test_yaml_merge_keys_may_override():
    text = """
providers:
  base: &base {type: openai, base_url: "http://127.0.0.1:1"}
  other: {<<: *base, base_url: "http://127.0.0.1:2"}
models: {m: {deployments: [{provider: base}, {provider: other}]}}
"""
    assert parse_config(text).providers["other"].base_url == "http://127.0.0.1:2"


def test_format_config_summarizes_routes_and_models():
    summary = format_config(parse_config(merged_spec(), env=ENV))
    assert "gpt-4o-mini: $0.15 in / $0.60 out per 1M tokens; context 128000" in summary
    assert "deployments: openai/gpt-4o-mini (weight 3), local/qwen2.5-7b (weight 1)" in summary
    assert "fallbacks: claude-haiku" in summary
    assert "support: strategy cheapest; candidates gpt-4o-mini, claude-haiku" in summary
    assert "3 rule(s); budget $50.00/day, then reject; canary new-model 5%; shadow fastest; exact cache 10m" in summary
    assert "extract: strategy cascade" in summary and "cascade checks: json, finish_reason, non_empty" in summary
    assert "judge: llm via gpt-4o-mini; labels simple, moderate, complex, default moderate" in summary


def test_embedding_classifier_labels_and_default_are_rule_inputs():
    base = yaml.safe_load(merged_spec())
    base["routes"]["support"]["rules"].append({"when": {"class.topic": "other"}, "then": {"model": "claude-haiku"}})
    base["routes"]["support"]["rules"].append({"when": {"class.topic": "billing"}, "then": {"model": "claude-haiku"}})
    config = parse_config(yaml.safe_dump(base), env=ENV)
    assert [r.when for r in config.routes["support"].rules[-2:]] == [{"class.topic": "other"}, {"class.topic": "billing"}]
