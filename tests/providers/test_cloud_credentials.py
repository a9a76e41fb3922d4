"""The credentials seam (providers/credentials.py) and its two clouds: background refresh with
backoff, NoCredentials until a fetch works, SigV4 signing that verifies, Google tokens from a
service-account key through a local token endpoint."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from aiohttp import web

from routecar.config.model import ProviderConfig
from routecar.providers.aws_credentials import AwsCredentials
from routecar.providers.base import UpstreamRequest
from routecar.providers.credentials import BackgroundRefresh, NoCredentials
from routecar.providers.google_credentials import GoogleCredentials
from tests.providers.google_token_server import TokenServer, service_account_file, token_server
from tests.providers.sigv4_check import check_sigv4

__all__ = ["token_server"]  # the fixture

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


async def eventually(check: Any, limit: int = 500) -> None:
    """Bounded poll (no wall-clock assertion): yields to the loop until `check()` holds."""
    for _ in range(limit):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_no_credentials_until_a_fetch_works_then_the_value_after_backoff() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def fetch() -> tuple[str, float]:
        with lock:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("metadata endpoint unreachable")
        return "v1", 3600.0

    refresh = BackgroundRefresh("p", fetch, retry_base=0.01, retry_max=0.02, min_delay=0.01)
    try:
        await refresh.start()  # returns after the first (failed) attempt
        with pytest.raises(NoCredentials) as err:
            refresh.current()
        assert "metadata endpoint unreachable" in str(err.value) and "'p'" in str(err.value)
        await eventually(lambda: refresh.value is not None)
        assert refresh.current() == "v1" and refresh.error is None
    finally:
        await refresh.close()


async def test_a_failed_refresh_keeps_the_previous_value() -> None:
    results: list[Any] = ["v1", OSError("down")]

    def fetch() -> tuple[str, float]:
        item = results.pop(0) if results else "v2"
        if isinstance(item, Exception):
            raise item
        return item, 0.0  # due again at once (bounded below by retry_base)

    refresh = BackgroundRefresh("p", fetch, retry_base=0.01, retry_max=0.02, min_delay=0.01)
    try:
        await refresh.start()
        assert refresh.current() == "v1"
        await eventually(lambda: refresh.value == "v2")
    finally:
        await refresh.close()


def bedrock_provider(**extra: Any) -> ProviderConfig:
    return ProviderConfig(name="b", type="bedrock", base_url="https://bedrock-runtime.eu-west-1.amazonaws.com",
                          region="eu-west-1", **extra)


def wire() -> UpstreamRequest:
    return UpstreamRequest("https://bedrock-runtime.eu-west-1.amazonaws.com/model/a.b-v1%3A0/converse",
                           {"content-type": "application/json", "x-team": "t"}, b'{"messages":[]}')


async def test_static_keys_sign_a_request_that_verifies() -> None:
    creds = AwsCredentials(bedrock_provider(aws_access_key_id="AKIDSTATIC", aws_secret_access_key=SECRET,
                                            aws_session_token="session-tok"))
    await creds.start()
    try:
        req = wire()
        creds.apply(req)
        assert req.headers["x-amz-security-token"] == "session-tok"
        signed = check_sigv4("POST", req.url, {**req.headers, "host": "bedrock-runtime.eu-west-1.amazonaws.com"},
                             req.body, "AKIDSTATIC", SECRET, "eu-west-1", token="session-tok")
        assert {"host", "x-amz-date", "content-type", "x-team", "x-amz-security-token"} <= set(signed)
        assert SECRET not in repr(req.headers)
    finally:
        await creds.close()


async def test_credentials_come_from_botocores_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    creds = AwsCredentials(bedrock_provider())
    await creds.start()
    try:
        req = wire()
        creds.apply(req)
        check_sigv4("POST", req.url, {**req.headers, "host": "bedrock-runtime.eu-west-1.amazonaws.com"}, req.body,
                    "AKIDFROMENV", SECRET, "eu-west-1")
    finally:
        await creds.close()


async def test_static_and_chain_credentials_differ_in_identity() -> None:
    a = AwsCredentials(bedrock_provider(aws_access_key_id="A", aws_secret_access_key="s1"))
    b = AwsCredentials(bedrock_provider(aws_access_key_id="A", aws_secret_access_key="s2"))
    assert a.identity != b.identity and AwsCredentials(bedrock_provider()).identity != a.identity
    assert "s1" not in repr(a.identity)


# -- Google ------------------------------------------------------------------------------------


async def test_service_account_token_from_the_token_endpoint(token_server: TokenServer, tmp_path: Path) -> None:
    path = service_account_file(tmp_path, token_server.url)
    creds = GoogleCredentials(ProviderConfig(name="v", type="vertex", base_url="https://x", project="proj-test",
                                             location="us-central1", credentials_file=str(path)))
    await creds.start()
    try:
        req = UpstreamRequest("https://x/v1/m", {"content-type": "application/json"}, b"{}")
        creds.apply(req)
        assert req.headers["authorization"] == "Bearer tok-1"
        (grant,) = token_server.grants
        assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert grant["assertion"].count(".") == 2  # a signed JWT
    finally:
        await creds.close()


async def test_an_expired_token_is_never_sent(token_server: TokenServer, tmp_path: Path) -> None:
    path = service_account_file(tmp_path, token_server.url)
    now = [1_000_000.0]
    creds = GoogleCredentials(ProviderConfig(name="v", type="vertex", base_url="https://x", project="p",
                                             location="us-central1", credentials_file=str(path)),
                              clock=lambda: now[0])
    await creds.start()
    try:
        creds.apply(UpstreamRequest("https://x", {}, b""))
        now[0] += 7200  # two hours on, and no refresh happened
        with pytest.raises(NoCredentials):
            creds.apply(UpstreamRequest("https://x", {}, b""))
    finally:
        await creds.close()


async def test_no_credentials_file_and_no_adc_means_no_credentials(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    creds = GoogleCredentials(ProviderConfig(name="v", type="vertex", base_url="https://x", project="p",
                                             location="us-central1"))
    await creds.start()
    try:
        with pytest.raises(NoCredentials) as err:
            creds.apply(UpstreamRequest("https://x", {}, b""))
        assert "DefaultCredentialsError" in str(err.value)
    finally:
        await creds.close()


async def loopback(app: web.Application) -> tuple[web.AppRunner, str]:
    """`app` served on a free loopback port: its runner (to clean up) and its origin URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No source in botocore's chain but the one a test then sets (no keys, files, IMDS)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


async def test_pod_identity_credentials_are_refreshed_before_they_expire(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """EKS Pod Identity as botocore sees it: a container credentials endpoint (here on loopback)
    with an authorization token. Each answer expires within botocore's mandatory refresh window,
    so every poll fetches anew, and requests sign with the newest keys."""
    import datetime

    served: list[str] = []

    async def creds(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "pod-identity-token"
        served.append(f"ASIAPOD{len(served) + 1}")
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
        return web.json_response({"AccessKeyId": served[-1], "SecretAccessKey": SECRET, "Token": "sess",
                                  "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})

    app = web.Application()
    app.router.add_get("/v1/credentials", creds)
    runner, origin = await loopback(app)
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("pod-identity-token")
    no_aws_credentials(monkeypatch, tmp_path)
    endpoint = f"{origin}/v1/credentials"
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint)
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
    aws = AwsCredentials(bedrock_provider(), poll_every=0.01)
    try:
        await aws.start()
        req = wire()
        aws.apply(req)
        assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIAPOD")
        # Fetches run one after another: once a third was served, the second one's keys are cached.
        await eventually(lambda: len(served) >= 3)
        newest = _signed_key(aws)
        assert newest != "ASIAPOD1" and newest in served
    finally:
        await aws.close()
        await runner.cleanup()


def _signed_key(aws: AwsCredentials) -> str:
    req = wire()
    aws.apply(req)
    return req.headers["authorization"].split("Credential=", 1)[1].split("/", 1)[0]


async def test_a_configured_authorization_header_never_travels_beside_the_signature() -> None:
    creds = AwsCredentials(bedrock_provider(aws_access_key_id="AKIDSTATIC", aws_secret_access_key=SECRET))
    await creds.start()
    try:
        req = wire()
        req.headers["Authorization"] = "Bearer from-config"
        creds.apply(req)
        assert [k for k in req.headers if k.lower() == "authorization"] == ["authorization"]
        check_sigv4("POST", req.url, {**req.headers, "host": "bedrock-runtime.eu-west-1.amazonaws.com"}, req.body,
                    "AKIDSTATIC", SECRET, "eu-west-1")
    finally:
        await creds.close()


async def test_google_tokens_are_renewed_before_they_expire(token_server: TokenServer, tmp_path: Path) -> None:
    token_server.expires_in = 100  # inside the renewal margin below: every look renews
    path = service_account_file(tmp_path, token_server.url)
    creds = GoogleCredentials(ProviderConfig(name="v", type="vertex", base_url="https://x", project="p",
                                             location="us-central1", credentials_file=str(path)),
                              refresh_ahead=300, min_wait=0.01)
    await creds.start()
    try:
        # Fetches run one after another: once a third grant was asked, the second token is cached.
        await eventually(lambda: len(token_server.grants) >= 3)
        req = UpstreamRequest("https://x", {}, b"")
        creds.apply(req)
        assert req.headers["authorization"] not in ("Bearer tok-1", None)  # a renewed token is in use
    finally:
        await creds.close()


async def test_irsa_web_identity_credentials_from_sts_are_refreshed_with_the_rotated_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """EKS IRSA as botocore sees it: a projected service-account token file and a role ARN;
    botocore calls STS AssumeRoleWithWebIdentity (here a loopback STS, reached through
    AWS_ENDPOINT_URL_STS). Each answer expires within botocore's mandatory refresh window, so
    every poll assumes the role anew, reading the token file again (the kubelet rotates it)."""
    import datetime
    from urllib.parse import parse_qs

    calls: list[dict[str, str]] = []

    async def sts(request: web.Request) -> web.Response:
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        calls.append(form)
        key = f"ASIAIRSA{len(calls)}"
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)
        body = f"""<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey>
      <SessionToken>irsa-session-{len(calls)}</SessionToken>
      <Expiration>{expires.strftime("%Y-%m-%dT%H:%M:%SZ")}</Expiration></Credentials>
    <SubjectFromWebIdentityToken>system:serviceaccount:apps:checkout</SubjectFromWebIdentityToken>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/routecar/s</Arn>
      <AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>
    <Provider>oidc.eks.eu-central-1.amazonaws.com</Provider><Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r-{len(calls)}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"""
        return web.Response(text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/", sts)
    runner, origin = await loopback(app)
    token_file = tmp_path / "token"
    token_file.write_text("sa-token-1")
    no_aws_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/routecar")
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "routecar-test")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", origin)
    aws = AwsCredentials(bedrock_provider(), poll_every=0.01)
    try:
        await aws.start()
        req = wire()
        aws.apply(req)
        assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIAIRSA")
        assert req.headers["x-amz-security-token"].startswith("irsa-session-")
        first = calls[0]
        assert (first["Action"], first["RoleArn"], first["WebIdentityToken"], first["RoleSessionName"]) == \
            ("AssumeRoleWithWebIdentity", "arn:aws:iam::123456789012:role/routecar", "sa-token-1", "routecar-test")
        token_file.write_text("sa-token-2")  # the kubelet rotated the projected token
        await eventually(lambda: any(c["WebIdentityToken"] == "sa-token-2" for c in calls))
        await eventually(lambda: _signed_key(aws) != "ASIAIRSA1")
    finally:
        await aws.close()
        await runner.cleanup()
