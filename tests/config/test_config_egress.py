"""Provider types and egress in the config: `type: azure` and its keys, `proxy` and the
environment's proxy variables (curl's NO_PROXY rules), `tls` files checked at load, and the
pool key that decides whether a reload keeps a provider's connections."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from routecar.config import ConfigError, parse_config
from routecar.config.model import ProxyConfig
from routecar.config.proxy_env import bypasses, proxy_variable
from routecar.server.pools import ProviderPools, _pool_key


def _yaml(provider: str) -> str:
    return f"""
providers:
  p: {{{provider}}}
models:
  m: {{deployments: [{{provider: p, model: up}}]}}
"""


def _errors(provider: str, env: dict[str, str] | None = None, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(_yaml(provider), env=env or {}, base_dir=base_dir)
    return err.value.errors


def _provider(provider: str, env: dict[str, str] | None = None, base_dir: Path | None = None):  # type: ignore[no-untyped-def]
    return parse_config(_yaml(provider), env=env or {}, base_dir=base_dir).providers["p"]


AZURE = "type: azure, base_url: 'https://res.openai.azure.com'"


# -- azure ------------------------------------------------------------------------------------

def test_azure_needs_an_api_version() -> None:
    assert _errors(f"{AZURE}, api_key: k") == ["providers.p.api_version: is required"]


def test_an_unquoted_api_version_is_taken_as_written() -> None:
    p = _provider(f"{AZURE}, api_key: k, api_version: 2024-10-21")
    assert (p.type, p.api_version, p.forward_headers) == ("azure", "2024-10-21", ())


def test_azure_keys_belong_to_azure_only() -> None:
    assert any(e.startswith("providers.p.api_version: unknown key")
               for e in _errors("type: openai, base_url: 'https://x.test', api_version: 2024-10-21"))


def test_an_ad_token_comes_from_the_environment_and_is_never_printed() -> None:
    p = _provider(f"{AZURE}, api_version: '2024-10-21', azure_ad_token: '${{AAD}}'", env={"AAD": "tok-123"})
    assert p.azure_ad_token == "tok-123" and "tok-123" not in repr(p) and "tok-123" in p.secrets()
    errors = _errors(f"{AZURE}, api_version: '2024-10-21', api_key: k, azure_ad_token: t")
    assert errors == ["providers.p.azure_ad_token: set either api_key (or api_key_file) or azure_ad_token, not both"]


def test_an_unset_ad_token_variable_leaves_the_provider_unauthenticated_not_the_config_invalid() -> None:
    config = parse_config(_yaml(f"{AZURE}, api_version: '2024-10-21', azure_ad_token: '${{AAD}}'"), env={})
    assert config.providers["p"].azure_ad_token is None
    assert any("AAD" in w for w in config.warnings)


# -- proxy ------------------------------------------------------------------------------------

def test_a_proxy_url_with_credentials() -> None:
    p = _provider("type: openai, base_url: 'https://x.test/v1', proxy: 'http://us%40er:p%3Ass@proxy.corp:3128'")
    assert p.proxy == ProxyConfig("proxy.corp", 3128, "us@er", "p:ss")
    assert "p:ss" not in repr(p) and str(p.proxy) == "proxy.corp:3128" and "p:ss" in p.secrets()


@pytest.mark.parametrize("value", ["none", "None", "''"])
def test_proxy_none_or_empty_overrides_the_environment(value: str) -> None:
    env = {"HTTPS_PROXY": "http://envproxy:8080"}
    assert _provider("type: openai, base_url: 'https://x.test/v1'", env=env).proxy == ProxyConfig("envproxy", 8080)
    assert _provider(f"type: openai, base_url: 'https://x.test/v1', proxy: {value}", env=env).proxy is None


@pytest.mark.parametrize(("url", "why"), [
    ("socks5://u:s3cret@proxy:1080", "only http:// proxies are supported, got socks5://"),
    ("https://u:s3cret@proxy:1080", "only http:// proxies are supported, got https://"),
    ("http://u:s3cret@proxy:99999", "the port is not a number in 1-65535"),
    ("http://u:s3cret@proxy:3128/path", None),
])
def test_a_bad_proxy_is_named_without_its_credentials(url: str, why: str | None) -> None:
    errors = _errors(f"type: openai, base_url: 'https://x.test', proxy: '{url}'")
    assert len(errors) == 1 and errors[0].startswith("providers.p.proxy: must be http://[user:pass@]host:port")
    assert "s3cret" not in errors[0] and (why is None or why in errors[0])


def test_a_bad_proxy_variable_is_named_by_the_variable() -> None:
    errors = _errors("type: openai, base_url: 'https://x.test'", env={"HTTPS_PROXY": "socks5://u:s3cret@p:1"})
    assert errors[0].startswith("HTTPS_PROXY (environment, for providers.p): must be http://")
    assert "s3cret" not in errors[0]


def test_the_environment_by_scheme_lower_case_first_and_without_a_scheme() -> None:
    env = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "lower:2", "HTTP_PROXY": "http://plain:3"}
    assert _provider("type: openai, base_url: 'https://x.test'", env=env).proxy == ProxyConfig("lower", 2)
    assert _provider("type: openai, base_url: 'http://x.test'", env=env).proxy == ProxyConfig("plain", 3)
    assert _provider("type: openai, base_url: 'http://x.test'", env={"HTTPS_PROXY": "http://p:1"}).proxy is None


@pytest.mark.parametrize(("no_proxy", "host", "port", "bypassed"), [
    ("*", "api.openai.com", 443, True),
    ("openai.com", "api.openai.com", 443, True),
    ("openai.com", "openai.com", 443, True),
    (".openai.com", "openai.com", 443, True),
    ("*.openai.com", "api.openai.com", 443, True),
    ("openai.com", "notopenai.com", 443, False),
    ("API.OpenAI.com", "api.openai.com.", 443, True),
    ("a.test, b.test  c.test", "c.test", 443, True),
    ("vllm.svc:8000", "vllm.svc", 8000, True),
    ("vllm.svc:8000", "vllm.svc", 8001, False),
    ("10.0.0.0/8", "10.1.2.3", 80, True),
    ("10.0.0.0/8", "11.1.2.3", 80, False),
    ("127.0.0.1", "127.0.0.1", 80, True),
    ("127.0.0.1", "localhost", 80, False),
    ("::1", "[::1]", 80, True),
    ("[::1]:8080", "::1", 8080, True),
    ("fd00::/8", "fd12::1", 80, True),
    ("", "x.test", 80, False),
])
def test_no_proxy_matches_as_curl_does(no_proxy: str, host: str, port: int, bypassed: bool) -> None:
    assert bypasses(no_proxy, host, port) is bypassed


def test_no_proxy_from_either_case() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "no_proxy": "x.test"}
    assert proxy_variable("https", "api.x.test", 443, env) is None
    assert proxy_variable("https", "y.test", 443, env) == ("HTTPS_PROXY", "http://p:1")
    assert proxy_variable("https", "y.test", 443, {**env, "NO_PROXY": "y.test", "no_proxy": ""}) is None


# -- tls --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("client.test")
    other = trustme.CA().issue_cert("other.test")
    d = tmp_path_factory.mktemp("pem")
    files = {"ca": ca.cert_pem, "cert": leaf.cert_chain_pems[0], "key": leaf.private_key_pem,
             "both": leaf.private_key_and_cert_chain_pem, "other_key": other.private_key_pem}
    out = {}
    for name, blob in files.items():
        blob.write_to_path(str(d / f"{name}.pem"))
        out[name] = d / f"{name}.pem"
    (d / "junk.pem").write_text("not a certificate\n")
    out["junk"] = d / "junk.pem"
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    (d / "enc.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(b"pw")))
    return out


def test_tls_files_are_read_at_load_relative_to_the_config(pem: dict[str, Path]) -> None:
    d = pem["ca"].parent
    p = _provider("type: openai, base_url: 'https://x.test', tls: {ca_file: ca.pem, cert_file: cert.pem, "
                  "key_file: key.pem}", base_dir=d)
    assert p.tls is not None and p.tls.ca_file == str(pem["ca"]) and p.tls.key_file == str(pem["key"])
    assert p.tls.digest
    both = _provider(f"type: openai, base_url: 'https://x.test', tls: {{cert_file: '{pem['both']}'}}")
    assert both.tls is not None and both.tls.key_file is None


@pytest.mark.parametrize(("tls", "error"), [
    ("{ca_file: missing.pem}", "providers.p.tls.ca_file: cannot read"),
    ("{ca_file: junk.pem}", "providers.p.tls.ca_file: is not a PEM bundle of CA certificates"),
    ("{cert_file: cert.pem, key_file: other_key.pem}", "providers.p.tls.key_file: cannot be used as the client "
                                                       "certificate and key"),
    ("{cert_file: junk.pem}", "providers.p.tls.cert_file: cannot be used as the client certificate and key"),
    ("{key_file: key.pem}", "providers.p.tls.key_file: needs cert_file"),
    # OpenSSL would prompt on the terminal for the passphrase; a config error instead.
    ("{cert_file: cert.pem, key_file: enc.pem}", "providers.p.tls.key_file: is encrypted"),
])
def test_a_bad_tls_file_is_a_config_error_naming_the_key(pem: dict[str, Path], tls: str, error: str) -> None:
    errors = _errors(f"type: openai, base_url: 'https://x.test', tls: {tls}", base_dir=pem["ca"].parent)
    assert len(errors) == 1 and errors[0].startswith(error), errors


def test_tls_on_a_plain_http_upstream_is_a_warning(pem: dict[str, Path]) -> None:
    config = parse_config(_yaml(f"type: openai, base_url: 'http://x.test', tls: {{ca_file: '{pem['ca']}'}}"), env={})
    assert any(w.startswith("providers.p.tls: has no effect") for w in config.warnings)


# -- pools ------------------------------------------------------------------------------------

async def test_a_reload_keeps_the_pool_unless_proxy_or_tls_changed(pem: dict[str, Path], tmp_path: Path) -> None:
    def config(extra: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return parse_config(_yaml(f"type: openai, base_url: 'https://x.test', api_key: k{extra}"), env=env or {},
                            base_dir=tmp_path)

    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem["ca"].read_bytes())
    pools = ProviderPools()
    try:
        env = {"HTTPS_PROXY": "http://u:b@p:1"}
        steps = [
            (config(""), True),
            (config(", headers: {x: y}"), False),  # headers travel per request
            (config(", proxy: 'http://u:a@p:1'"), True),
            (config(", proxy: 'http://u:b@p:1'"), True),  # other credentials
            (config("", env=env), False),  # the same proxy, from the environment
            (config(", tls: {ca_file: ca.pem}", env=env), True),
            (config(", tls: {ca_file: ca.pem}", env=env), False),
        ]
        for cfg, new_pool in steps:
            change = pools.prepare(cfg)
            assert bool(change.created) is new_pool, _pool_key(cfg.providers["p"])
            pools.commit(change)
            for pool in change.retired:
                await pool.close()
        ca.write_bytes(pem["ca"].read_bytes() + b"\n")  # a rotated bundle: new connections
        change = pools.prepare(config(", tls: {ca_file: ca.pem}", env=env))
        assert change.created
        pool = change.created[0]
        assert pool.proxy is not None and str(pool.proxy) == "p:1"
        pools.commit(change)
    finally:
        await pools.close()
