"""`${VAR}` interpolation, `api_key_file`, and keys never leaking into any output."""

import pytest

from routecar.config import ConfigError, parse_config
from routecar.config.describe import format_config

SECRET = "sk-live-7f3a9c1e5d2b8a4f"

MODELS = "models: {m: {deployments: [{provider: p}]}}\n"


def provider(body: str) -> str:
    return f"providers:\n  p: {{type: openai, base_url: 'http://127.0.0.1:7401/v1', {body}}}\n" + MODELS


def test_env_interpolation_in_string_values():
    text = """
providers:
  p: {type: openai, base_url: "http://${UP_HOST}:${UP_PORT:-7401}/v1", api_key: "${KEY}", headers: {x-team: "${TEAM:-search}"}}
models: {m: {deployments: [{provider: p, model: "${UPSTREAM_MODEL:-gpt-4o-mini}"}]}}
route_log: {path: "${LOG_DIR:-/tmp}/routes.db"}
"""
    config = parse_config(text, env={"UP_HOST": "10.0.0.5", "KEY": SECRET, "LOG_DIR": ""})
    p = config.providers["p"]
    assert p.base_url == "http://10.0.0.5:7401/v1"
    assert p.api_key == SECRET
    assert dict(p.headers) == {"x-team": "search"}
    assert config.models["m"].deployments[0].model == "gpt-4o-mini"
    # Like the shell, ":-" also replaces a set-but-empty variable.
    assert config.route_log.path == "/tmp/routes.db"


def test_interpolated_values_feed_numeric_and_boolean_fields():
    text = """
server: {listen: "127.0.0.1:${PORT:-7300}", max_queue: "${MAXQ}"}
providers: {p: {type: openai, base_url: "http://127.0.0.1:1", max_connections: "${CONNS:-8}", drop_unsupported_params: "${DROP}"}}
models: {m: {deployments: [{provider: p, weight: "${W}"}]}}
route_log: {flush_interval: "${FLUSH:-1s}"}
"""
    config = parse_config(text, env={"MAXQ": "12", "DROP": "true", "W": "2.5"})
    assert config.server.listen.port == 7300 and config.server.max_queue == 12
    assert config.providers["p"].max_connections == 8 and config.providers["p"].drop_unsupported_params
    assert config.models["m"].deployments[0].weight == 2.5
    assert config.route_log.flush_interval == 1.0


def test_a_literal_number_string_is_still_not_a_number():
    with pytest.raises(ConfigError) as exc:
        parse_config(provider("max_connections: '8'"), env={})
    assert exc.value.errors == ["providers.p.max_connections: must be an integer >= 1, got string '8'"]


def test_double_dollar_escapes_interpolation():
    text = provider("api_key: k") + "routes: {r: {strategy: ordered, candidates: [m], rules: [{when: {matches: 'cost $${X}'}, then: {model: m}}]}}\n"
    config = parse_config(text, env={})
    assert config.routes["r"].rules[0].when["matches"].pattern == "cost ${X}"


def test_interpolation_happens_after_yaml_parsing():
    # A value containing YAML syntax stays one string: it cannot inject keys.
    config = parse_config(provider('api_key: "${KEY}"'), env={"KEY": "a: b\nc: [d]"})
    assert config.providers["p"].api_key == "a: b\nc: [d]"


def test_unset_api_key_variable_is_a_warning_not_an_error():
    text = """
providers:
  openai: {type: openai, base_url: "https://api.openai.com/v1", api_key: "${OPENAI_API_KEY}"}
  local: {type: openai, base_url: "http://127.0.0.1:8000/v1"}
models: {m: {deployments: [{provider: openai}, {provider: local}]}}
"""
    config = parse_config(text, env={})
    assert config.providers["openai"].api_key is None
    assert config.warnings == (
        "providers.openai.api_key: environment variable OPENAI_API_KEY is not set; "
        "requests to this provider will be unauthenticated",
    )
    assert "providers.openai.api_key: environment variable OPENAI_API_KEY" in format_config(config)


def test_unused_provider_is_a_warning():
    text = provider("api_key: k").replace("models:", "  q: {type: openai, base_url: 'http://127.0.0.1:2'}\nmodels:")
    config = parse_config(text, env={})
    assert config.warnings == ("providers.q: no model deployment uses this provider",)


def test_api_key_file_is_read_stripped_and_relative_to_base_dir(tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text(f"  {SECRET}\n")
    config = parse_config(provider("api_key_file: secrets/key"), base_dir=tmp_path)
    assert config.providers["p"].api_key == SECRET


def test_load_config_resolves_api_key_file_from_the_config_directory(tmp_path, monkeypatch):
    from routecar.config import load_config

    (tmp_path / "key").write_text(SECRET)
    path = tmp_path / "sidecar.yaml"
    path.write_text(provider("api_key_file: key") + "route_log: {path: ./routes.db}\n")
    monkeypatch.chdir("/")
    config = load_config(path, env={})
    assert config.providers["p"].api_key == SECRET
    assert config.route_log.path == "./routes.db"  # stays as written


def test_empty_api_key_file_is_an_error(tmp_path):
    (tmp_path / "key").write_text("\n")
    with pytest.raises(ConfigError) as exc:
        parse_config(provider("api_key_file: key"), base_dir=tmp_path)
    assert exc.value.errors == [f"providers.p.api_key_file: {str(tmp_path / 'key')!r} is empty"]


def test_api_key_and_api_key_file_together_is_an_error(tmp_path):
    (tmp_path / "key").write_text(SECRET)
    with pytest.raises(ConfigError) as exc:
        parse_config(provider(f"api_key: {SECRET}, api_key_file: key"), base_dir=tmp_path)
    assert exc.value.errors == ["providers.p.api_key_file: set either api_key or api_key_file, not both"]
    assert SECRET not in str(exc.value)


@pytest.mark.parametrize(
    "body",
    [
        f"api_key: [{SECRET}]",
        f"api_key: {{k: {SECRET}}}",
        "api_key: 12345678901234",
        f"headers: {{authorization: [{SECRET}]}}",
        f"api_key: '{SECRET}${{'",
        f"api_key: '{SECRET}${{1x}}'",
    ],
)
def test_secrets_never_appear_in_errors(body):
    with pytest.raises(ConfigError) as exc:
        parse_config(provider(body), env={})
    message = str(exc.value)
    assert message.startswith("providers.p.")
    for leaked in (SECRET, "12345678901234"):
        assert leaked not in message


def test_secrets_never_appear_in_repr_or_summary(tmp_path):
    (tmp_path / "key").write_text(SECRET)
    text = """
providers:
  a: {type: openai, base_url: "http://127.0.0.1:1", api_key: "${KEY}", headers: {authorization: "Bearer ${KEY}"}}
  b: {type: anthropic, base_url: "http://127.0.0.1:2", api_key_file: key}
  c: {type: gemini, base_url: "http://127.0.0.1:3"}
models: {m: {deployments: [{provider: a}, {provider: b}, {provider: c}]}}
"""
    config = parse_config(text, env={"KEY": SECRET}, base_dir=tmp_path)
    assert config.providers["a"].api_key == SECRET and config.providers["b"].api_key == SECRET
    summary = format_config(config)
    for output in (repr(config), str(config), repr(config.providers["a"]), summary, "\n".join(config.warnings)):
        assert SECRET not in output
    assert "a: openai http://127.0.0.1:1; key: set" in summary
    assert "b: anthropic http://127.0.0.1:2; key: set" in summary
    assert "c: gemini http://127.0.0.1:3; key: unset" in summary



def test_env_defaults_to_process_environment(monkeypatch):
    monkeypatch.setenv("ROUTECAR_TEST_KEY", SECRET)
    config = parse_config(provider('api_key: "${ROUTECAR_TEST_KEY}"'))
    assert config.providers["p"].api_key == SECRET


def test_null_retention_limits_mean_unlimited():
    config = parse_config(provider("api_key: k") + "route_log: {retention: {max_age: null, max_rows: null}}\n")
    assert config.route_log.retention.max_age is None and config.route_log.retention.max_rows is None
    config = parse_config(provider("api_key: k") + "route_log: {retention: 1d}\n")
    assert config.route_log.retention.max_age == 86400 and config.route_log.retention.max_rows == 1_000_000
