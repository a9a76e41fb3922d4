"""Planted provider keys appear nowhere the sidecar writes: the route-log file, /metrics, /state,
error bodies, `routecar check`. (The serve subprocess's stdout/stderr: test_obs_serve.py.)"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.observe_e2e.conftest import SECRETS, Observed, cli_env, obs_yaml, run_cli, secret_env


def assert_clean(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in blob, f"{secret} leaked into {where}"


async def test_route_log_file_bytes_hold_no_key(observed: Observed) -> None:
    rows = await observed.rows()
    assert "REDACTED" in rows["obs-echo_401"]["error_message"]
    assert "REDACTED" in rows["obs-echo_401_opaque"]["error_message"]  # caught as a registered secret
    await observed.sidecar.close()  # the writer drains and closes the file
    files = sorted(Path(observed.db).parent.glob(Path(observed.db).name + "*"))
    assert Path(observed.db) in files
    for path in files:  # the database, and its -wal / -shm when SQLite kept them
        assert_clean(path.read_bytes(), path.name)


async def test_admin_endpoints_hold_no_key(observed: Observed) -> None:
    await observed.rows()
    async with aiohttp.ClientSession() as http:
        for path in ("/metrics", "/state", "/readyz", "/healthz"):
            async with http.get(observed.sidecar.admin_url + path) as resp:
                assert resp.status == 200, path
                assert_clean(await resp.read(), path)
        async with http.get(observed.sidecar.data_url + "/v1/models") as resp:
            assert_clean(await resp.read(), "/v1/models")


async def test_routecar_generated_errors_hold_no_key(observed: Observed) -> None:
    for kind in ("bad_json", "unknown_model", "too_large", "upstream_502", "cancelled"):
        assert_clean(observed.answers[kind].body, f"the {kind} answer")
    for kind, answer in observed.answers.items():
        assert_clean(repr(answer.headers).encode(), f"the {kind} headers")


async def test_upstream_401_echoing_the_key_is_scrubbed_from_the_error_body(observed: Observed) -> None:
    for kind in ("echo_401", "echo_401_opaque"):
        answer = observed.answers[kind]
        assert answer.status == 401 and b"Incorrect API key provided" in answer.body
        assert_clean(answer.body, f"the {kind} answer")


async def test_routecar_check_output_holds_no_key(tmp_path: Path) -> None:
    env = cli_env(**secret_env(tmp_path))
    good = tmp_path / "sidecar.yaml"
    good.write_text(obs_yaml("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1"))
    code, out, err = await run_cli("check", "-c", str(good), env=env)
    assert code == 0, err
    assert "OK:" in out
    assert_clean((out + err).encode(), "routecar check")

    # The key interpolated into keys that do not take it: the errors quote the bad values.
    bad = tmp_path / "bad.yaml"
    bad.write_text(obs_yaml("${KEY}", "http://127.0.0.1:9/v1").replace("max_body_bytes: 4096",
                                                                       'max_body_bytes: "${KEY}"'))
    code, out, err = await run_cli("check", "-c", str(bad), env=env)
    assert code == 1
    assert "providers.bad.base_url" in err and "server.max_body_bytes" in err
    assert_clean((out + err).encode(), "routecar check on a bad file")
