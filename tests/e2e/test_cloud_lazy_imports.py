"""The cloud SDKs (botocore; google-auth and requests) load only when a provider needs them:
`routecar serve` runs with Python's import-time report on and the modules it loaded are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cloud_env import clean_env
from tests.lifecycle.conftest import SidecarProcess

CLOUD = ("botocore", "google.auth", "google.oauth2", "requests")


def imported(lines: list[str]) -> set[str]:
    """Top modules named in `-X importtime` lines ("import time: self | cumulative | name")."""
    names = set()
    for line in lines:
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize("provider,expected", [
    ("{type: openai, base_url: 'http://127.0.0.1:9/v1', api_key: k}", ()),
    ("{type: bedrock, region: us-east-1, base_url: 'http://127.0.0.1:9', aws_access_key_id: A, "
     "aws_secret_access_key: s}", ("botocore",)),
])
async def test_cloud_sdks_load_only_for_their_providers(provider: str, expected: tuple[str, ...],
                                                        tmp_path: Path) -> None:
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  p: {provider}
models:
  m: {{deployments: [{{provider: p, model: up-m}}]}}
route_log: {{path: '{tmp_path / "routes.db"}'}}
""")
    sidecar = SidecarProcess(cfg, env=clean_env(tmp_path, PYTHONPROFILEIMPORTTIME="1"))
    try:
        await sidecar.start()  # listening: start-up (credentials included) is over
        names = imported(sidecar.lines)
        assert "routecar.server.runtime" in names  # the report was read
        loaded = {prefix for prefix in CLOUD if any(n == prefix or n.startswith(prefix + ".") for n in names)}
        assert loaded == set(expected)
    finally:
        await sidecar.kill()
