"""Documents the schema tests share: the JSON Schema validator, and a config that sets every
key the definitions declare (so every key can be given a bad value in a valid context)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from routecar.config.schema import json_schema

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "sidecar.yaml"
TLS = REPO / "tests" / "config" / "tls"  # test-only CA, client certificate and key
DEMO = REPO / "src" / "routecar" / "data" / "demo.yaml"
# What `routecar demo` fills in before loading its config.
DEMO_ENV = {"DEMO_PORT": "0", "DEMO_ADMIN_PORT": "0", "DEMO_DB": "/tmp/routecar-demo.db",
            "PRIMARY_PORT": "7401", "SECONDARY_PORT": "7402", "BACKUP_PORT": "7403"}


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    # Formats are annotations unless asked for; `regex` is one the loader enforces.
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_errors(doc: Any) -> list[str]:
    """Each error the schema finds, as `key.path: message` (best match first)."""
    errors = list(validator().iter_errors(doc))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    ordered = [best, *(e for e in errors if e is not best)]
    return [".".join(str(p) for p in e.absolute_path) + ": " + e.message for e in ordered]


def schema_accepts(doc: Any) -> bool:
    return validator().is_valid(doc)


def as_yaml(doc: Any) -> str:
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True)


# Every key set, every list and mapping present, every variant (provider type, classifier type)
# and both forms of each either-or value somewhere.
_COMPLETE: dict[str, Any] = {
    "server": {
        "listen": "127.0.0.1:7300", "admin_listen": "[::1]:7301", "max_body_bytes": "8MiB",
        "max_response_bytes": 16777216, "max_event_bytes": "1MiB", "drain_timeout": "20s",
        "max_queue_wait": 5, "max_queue": 256, "default_timeout": "10m", "log_requests": False,
    },
    "providers": {
        "p": {
            "type": "openai", "base_url": "http://127.0.0.1:7401/v1", "api_key": "sk-test",
            "headers": {"x-team": "search"},
            "timeouts": {"connect": "1s", "first_token": "30s", "idle": "30s", "total": "5m"},
            "max_connections": 16, "limits": {"rpm": 600, "tpm": 100000}, "retry_on": [429, "5xx", 529],
            "circuit_breaker": {"window": "30s", "min_requests": 10, "failure_rate": "50%",
                                "consecutive_failures": 5, "open_for": "15s", "max_open_for": "5m",
                                "half_open_probes": 1},
            "drop_unsupported_params": True,
            "proxy": "http://user:pw@proxy.corp.test:3128",
        },
        "q": {"type": "anthropic", "base_url": "https://api.anthropic.test", "api_key": "sk-ant-test",
              "tls": {"ca_file": str(TLS / "ca.pem"), "cert_file": str(TLS / "client.pem"),
                      "key_file": str(TLS / "client.key")}},
        "az": {"type": "azure", "base_url": "https://res.openai.azure.com", "api_version": "2024-10-21",
               "azure_ad_token": "aad-token", "proxy": "none"},
        "g": {"type": "gemini", "base_url": "https://gemini.test"},
        "br": {"type": "bedrock", "region": "us-east-1", "base_url": "https://bedrock.vpce.test",
               "aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "aws-secret", "aws_session_token": "aws-token"},
        "vx": {"type": "vertex", "project": "proj-test", "location": "us-central1", "base_url": "https://vertex.test",
               "credentials_file": str(REPO / "tests" / "config" / "gcp" / "service-account.json")},
    },
    "models": {
        "a": {
            "price": {"input": 0.15, "output": 0.6, "cached_input": 0.075}, "context_window": 128000,
            "max_output_tokens": 16384, "capabilities": ["chat", "tools", "streaming"], "quality": 0.7,
            "deployments": [{"provider": "p", "model": "a-up", "weight": 3}, {"provider": "g", "weight": 1}],
            "fallbacks": ["b"], "hedge": {"after": "300ms"}, "balancing": "least_request",
        },
        "b": {"deployments": [{"provider": "q", "model": "claude-3-5-haiku-latest"}]},
        "e": {"capabilities": ["embeddings"], "deployments": [{"provider": "p", "model": "text-embedding-3-small"}]},
    },
    "routes": {
        "r": {
            "strategy": "balanced",
            "candidates": ["a", "b"],
            "rules": [
                {"when": {"tags.team": "billing", "prompt_tokens_gt": 10, "prompt_tokens_lt": 1000,
                          "has_tools": True, "has_images": False, "json_mode": False,
                          "matches": "(?i)passport", "class.h": "complex"},
                 "then": {"candidates": ["b"]}},
                {"when": {"class.j": "hard"}, "then": {"strategy": "cascade", "model": "a"}},
            ],
            "cascade": {"checks": ["json", {"regex": "^\\{"}]},
            "budget": {"period": "day", "usd": 50, "when_exceeded": "downgrade", "downgrade_to": "w",
                       "per_tag": "team"},
            "canary": {"model": "b", "percent": 5,
                       "rollback": {"max_error_rate_delta": 0.05, "max_p95_ratio": 1.5, "min_requests": 100}},
            "shadow": {"strategy": "fastest"},
            "cache": {"exact": {"ttl": "10m", "max_entries": 100, "max_bytes": "1MiB", "shared": True},
                      "semantic": {"model": "e", "min_similarity": 0.95, "ttl": "10m", "max_entries": 100}},
            "balance": {"cost": 1, "latency": 2, "quality": 0},
            "max_ttft_p99": "2s",
            "hedge": {"after": "p95"},
        },
        "w": {"strategy": "weighted", "candidates": {"a": 3, "b": 1}, "cache": {"exact": True}},
    },
    "classifiers": {
        "h": {"type": "heuristic"},
        "j": {"type": "llm", "model": "a", "labels": ["easy", "hard"], "timeout": "300ms", "default": "easy",
              "prompt": "Labels: {labels}\n{text}"},
        "t": {"type": "embedding", "model": "e", "labels": {"billing": ["refund my order"]},
              "min_similarity": 0.6, "default": "other", "timeout": "1s"},
    },
    "resilience": {
        "retry": {"max_attempts": 3, "retry_on": [429, "5xx", "timeout", "connect"],
                  "backoff": {"base": "50ms", "max": "1s"}, "budget": {"ratio": 0.2, "min_per_second": 5}},
        "circuit_breaker": {"window": "30s", "min_requests": 10, "failure_rate": 0.5, "consecutive_failures": 5,
                            "open_for": "30s", "max_open_for": "5m", "half_open_probes": 1},
        "max_cooldown": "5m",
        "health_check": {"enabled": True, "interval": "5s", "timeout": "2s"},
        "hedge": {"after": "1s"},
    },
    "route_log": {"path": "./routes.db", "flush_interval": "250ms", "batch_size": 500, "queue_size": 50000,
                  "retention": {"max_age": "7d", "max_rows": 1000000}, "record_prompts": False},
    "shared_state": {
        "redis": {"url": "redis://redis.platform:6379/0", "key_prefix": "routecar:", "timeout": "50ms",
                  "max_connections": 8, "password": "pw"},
        "on_unavailable": "local",
    },
    "telemetry": {
        "otlp": {"endpoint": "http://otel-collector.observability:4318", "headers": {"x-token": "t"},
                 "sample_ratio": 0.5, "timeout": "2s"},
        "route_rows": "otlp_logs",
    },
}


def complete() -> dict[str, Any]:
    return copy.deepcopy(_COMPLETE)
