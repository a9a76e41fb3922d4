"""The bedrock and vertex provider keys: defaults from region/location, clear errors by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from routecar.config import ConfigError, parse_config


def load(provider: str, base_dir: Path | None = None):
    text = f"""
providers:
  c: {provider}
models:
  m: {{deployments: [{{provider: c, model: x}}]}}
"""
    return parse_config(text, base_dir=base_dir) if base_dir else parse_config(text)


@pytest.mark.parametrize("provider,base_url", [
    ("{type: bedrock, region: eu-west-3}", "https://bedrock-runtime.eu-west-3.amazonaws.com"),
    ("{type: bedrock, region: us-gov-west-1, "
     "base_url: 'https://vpce-1.bedrock-runtime.us-gov-west-1.vpce.amazonaws.com/'}",
     "https://vpce-1.bedrock-runtime.us-gov-west-1.vpce.amazonaws.com"),
    ("{type: vertex, project: my-proj, location: europe-west4}", "https://europe-west4-aiplatform.googleapis.com"),
    ("{type: vertex, project: my-proj, location: global}", "https://aiplatform.googleapis.com"),
])
def test_the_endpoint_defaults_from_region_or_location(provider: str, base_url: str) -> None:
    assert load(provider).providers["c"].base_url == base_url


@pytest.mark.parametrize("provider,error", [
    ("{type: bedrock}", "providers.c.region: is required"),
    ("{type: bedrock, region: Virginia}", "providers.c.region: must be an AWS region such as us-east-1"),
    ("{type: bedrock, region: us-east-1, aws_access_key_id: AKID}",
     "providers.c.aws_secret_access_key: is required with aws_access_key_id"),
    ("{type: bedrock, region: us-east-1, aws_session_token: t}",
     "providers.c.aws_session_token: needs aws_access_key_id and aws_secret_access_key"),
    ("{type: vertex, location: us-central1}", "providers.c.project: is required"),
    ("{type: vertex, project: p1}", "providers.c.location: is required"),
    ("{type: openai}", "providers.c.base_url: is required"),
    ("{type: openai, base_url: 'http://x/v1', region: us-east-1}", "providers.c.region"),
])
def test_bad_cloud_keys_are_named(provider: str, error: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load(provider)
    assert any(e.startswith(error) for e in exc.value.errors), exc.value.errors


def test_credentials_file_is_relative_to_the_config_and_must_exist(tmp_path: Path) -> None:
    (tmp_path / "sa.json").write_text("{}")
    config = load("{type: vertex, project: p1, location: us-central1, credentials_file: sa.json}", tmp_path)
    assert config.providers["c"].credentials_file == str(tmp_path / "sa.json")
    with pytest.raises(ConfigError) as exc:
        load("{type: vertex, project: p1, location: us-central1, credentials_file: nope.json}", tmp_path)
    assert exc.value.errors == [f"providers.c.credentials_file: {str(tmp_path / 'nope.json')!r} is not a readable file"]


def test_static_aws_keys_never_print() -> None:
    config = load("{type: bedrock, region: us-east-1, aws_access_key_id: AKIDX, aws_secret_access_key: s3cr3t-value, "
                  "aws_session_token: t0ken-value}")
    provider = config.providers["c"]
    assert "s3cr3t-value" not in repr(provider) and "t0ken-value" not in repr(provider)
    assert {"s3cr3t-value", "t0ken-value"} <= set(provider.secrets())
