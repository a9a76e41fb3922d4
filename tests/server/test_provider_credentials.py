"""Cloud credentials across reloads (server/credentials.py): unchanged auth settings keep the
live object (and its cached value); changed ones make new credentials and retire the old."""

from __future__ import annotations

from routecar.config import parse_config
from routecar.server.credentials import ProviderCredentials


def config(region: str = "us-east-1", secret: str = "s1", extra: str = "") -> str:
    return f"""
providers:
  br: {{type: bedrock, region: {region}, aws_access_key_id: AKID, aws_secret_access_key: {secret}}}
  vx: {{type: vertex, project: proj-1, location: us-central1}}
  oa: {{type: openai, base_url: 'http://127.0.0.1:9/v1'{extra}}}
models:
  m: {{deployments: [{{provider: br, model: x}}, {{provider: vx, model: y}}, {{provider: oa, model: z}}]}}
"""


def test_only_cloud_providers_get_credentials_and_reloads_reuse_unchanged_ones() -> None:
    creds = ProviderCredentials()
    first = creds.prepare(parse_config(config()))
    assert set(first.mapping) == {"br", "vx"} and len(first.created) == 2 and first.retired == []
    creds.commit(first)

    same = creds.prepare(parse_config(config(extra=", max_connections: 7")))  # not an auth setting
    assert same.created == [] and same.retired == []
    assert same.mapping["br"] is first.mapping["br"] and same.mapping["vx"] is first.mapping["vx"]

    rotated = creds.prepare(parse_config(config(secret="s2")))
    assert rotated.created == [rotated.mapping["br"]] and rotated.retired == [first.mapping["br"]]
    assert rotated.mapping["vx"] is first.mapping["vx"]

    moved = creds.prepare(parse_config(config(region="eu-west-1")))
    assert moved.retired == [first.mapping["br"]]


async def test_the_runtime_starts_them_hands_them_to_the_caller_and_swaps_them_on_reload(tmp_path, monkeypatch) -> None:
    from routecar.server.runtime import Runtime

    # Vertex's application default credentials fail at once (no file), never probing a metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))

    log = f"route_log: {{path: '{tmp_path / 'routes.db'}'}}\n"
    rt = Runtime(parse_config(config() + log))
    await rt.start()
    try:
        first = rt.generation.dispatcher.caller.credentials  # type: ignore[attr-defined]
        assert set(first) == {"br", "vx"}
        rt.apply(parse_config(config(secret="s2") + log))
        second = rt.generation.dispatcher.caller.credentials  # type: ignore[attr-defined]
        assert second["br"] is not first["br"] and second["vx"] is first["vx"]
        assert rt.credentials.get("br") is second["br"]
    finally:
        await rt.close()
