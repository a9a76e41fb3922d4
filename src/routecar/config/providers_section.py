"""The `providers` section: upstream endpoints, their credentials, time budgets and limits.

A provider's keys depend on its `type` (the wire protocol): keys every type takes are in
`COMMON`, keys of one type in `TYPE_KEYS` (e.g. `"azure": (API_VERSION,)`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .alternatives import Tagged
from .egress_section import PROXY, TLS, build_proxy, build_tls
from .fields import Issues
from .kinds import INVALID, Bool, Defs, Duration, Int, Kind, Schema, Str, with_env
from .model import (
    PROVIDER_TYPES,
    BreakerConfig,
    Limits,
    ProviderConfig,
    ResilienceConfig,
    Timeouts,
)
from .resilience_section import BREAKER, RETRY_ON, build_breaker
from .shapes import Entries, Key, List, Map, Object, Values

# Provider names end up in deployment ids ("provider/model"), metrics labels and log rows.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_HEADER_NAME = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"


class BaseUrl(Kind):
    """An http:// or https:// URL, kept without its trailing slash."""

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        url = Str().parse(value, path, issues)
        if url is INVALID:
            return INVALID
        url = url.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        host = rest.split("/", 1)[0]
        if not sep or scheme.lower() not in ("http", "https") or not host or " " in url:
            return self.error(issues, path, f"must be an http:// or https:// URL, got {url!r}")
        return url

    def schema(self, defs: Defs) -> Schema:
        pattern = r"^\s*[hH][tT][tT][pP][sS]?://[^/ ]+([/][^ ]*)?$"
        return with_env(defs, {"type": "string", "pattern": pattern})

    def type_name(self) -> str:
        return "URL"


TIMEOUTS = Object(
    Key("connect", Duration(positive=True), "bound on opening a connection"),
    Key("first_token", Duration(positive=True), "bound on the first content (or a whole non-streaming answer's start)"),
    Key("idle", Duration(positive=True), "longest silence between stream events"),
    Key("total", Duration(positive=True), "bound on one attempt from start to end"),
    defaults=Timeouts,
    name="timeouts",
)

LIMITS = Object(
    Key("rpm", Int(min=1), "client-side cap on requests per minute"),
    Key("tpm", Int(min=1), "client-side cap on tokens per minute"),
    defaults=Limits,
    name="limits",
)

HEADERS = Map(
    # Header values often carry credentials: messages name their type, never the value.
    Str(secret=True, allow_empty=True, pattern=r"[^\r\n]*", message="must not contain line breaks"),
    placeholder="HEADER",
    key_pattern=_HEADER_NAME,
    key_message="is not a valid HTTP header name",
    entry_doc="the header's value",
)

COMMON = (
    Key("base_url", BaseUrl(), "endpoint: http:// or https:// URL (an OpenAI one ends in /v1)", required=True),
    Key("api_key", Str(secret=True, allow_empty=True), "API key, usually \"${ENV_VAR}\"; never logged"),
    Key("api_key_file", Str(), "file holding the API key (relative to the config's directory)"),
    Key("headers", HEADERS, "extra headers sent with every request"),
    Key("timeouts", TIMEOUTS, "time budgets of one attempt"),
    Key("max_connections", Int(min=1), "most connections open to this provider at once"),
    Key("limits", LIMITS, "client-side rate limits, so routecar backs off before the provider's 429"),
    Key("retry_on", RETRY_ON, "overrides resilience.retry.retry_on for this provider"),
    Key("circuit_breaker", BREAKER, "overrides resilience.circuit_breaker key by key for this provider"),
    Key("drop_unsupported_params", Bool(), "drop request parameters this provider does not support instead of failing"),
    Key("forward_headers", List(Str(pattern=_HEADER_NAME, message="is not a valid HTTP header name"), unique=True),
        "app request headers sent on to this provider (default: anthropic-beta for anthropic; "
        "openai-organization, openai-project for openai); credentials, cookies, hop-by-hop and "
        "x-routecar-* headers are never forwarded"),
    PROXY,
    TLS,
)
# The app headers each provider type forwards when `forward_headers` is left out.
FORWARD_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("anthropic-beta",),
    "openai": ("openai-organization", "openai-project"),
    "azure": (),  # Azure takes neither OpenAI's organization nor its project headers
}
# Headers never forwarded, whatever `forward_headers` says: credentials (routecar sends the
# provider's own), cookies, routecar's controls, and what belongs to each hop (framing, the
# connection, the body's encoding, which routecar sets for the request it sends).
NEVER_FORWARDED = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
    "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
    "content-length", "content-type", "content-encoding", "accept-encoding", "expect",
})


def never_forwarded(name: str) -> bool:
    """Whether the header `name` (any case) may never go upstream from the app."""
    lowered = name.lower()
    return lowered in NEVER_FORWARDED or lowered.startswith("x-routecar-")


# Keys only one type takes, by type.
class ApiVersion(Str):
    """An Azure API version: `2024-10-21` unquoted is a YAML date, taken as the text it was."""

    def __init__(self) -> None:
        super().__init__(pattern=r"[0-9A-Za-z._-]+", message="must be an Azure API version such as 2024-10-21")

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        return super().parse(value.isoformat() if isinstance(value, date) else value, path, issues)


API_VERSION = Key("api_version", ApiVersion(), "Azure OpenAI API version sent as ?api-version= (e.g. 2024-10-21)",
                  required=True)
AZURE_AD_TOKEN = Key("azure_ad_token", Str(secret=True, allow_empty=True),
                     "Microsoft Entra ID token, usually \"${ENV_VAR}\", sent as a bearer token instead of the "
                     "api-key header; never logged")
# The clouds' endpoint is known from their region or location: `base_url` there is an optional
# override (a VPC endpoint, a test server) that replaces the required common key.
CLOUD_BASE_URL = Key("base_url", BaseUrl(),
                     "endpoint override (VPC endpoint, proxy, test server); default for bedrock "
                     "https://bedrock-runtime.{region}.amazonaws.com, for vertex "
                     "https://{location}-aiplatform.googleapis.com")
REGION = Key("region", Str(pattern=r"[a-z]{2}(-[a-z]+)+-[0-9]+", message="must be an AWS region such as us-east-1"),
              "AWS region of Bedrock (requests are SigV4-signed for it)", required=True)
AWS_KEYS = (
    Key("aws_access_key_id", Str(secret=True), "static AWS access key id; default: botocore's credential chain "
        "(AWS_* env vars, shared credentials file, EKS IRSA web identity, EKS Pod Identity, instance role)"),
    Key("aws_secret_access_key", Str(secret=True),
        "static AWS secret access key (with aws_access_key_id); never logged"),
    Key("aws_session_token", Str(secret=True), "static AWS session token (with the static keys); never logged"),
)
PROJECT = Key("project", Str(pattern=r"[A-Za-z0-9][A-Za-z0-9.:_-]*", message="must be a Google Cloud project id"),
              "Google Cloud project of Vertex AI", required=True)
LOCATION = Key("location", Str(pattern=r"[a-z]+[a-z0-9-]*", message="must be a Vertex AI location such as us-central1"),
               "Vertex AI location (us-central1, europe-west4, global)", required=True)
CREDENTIALS_FILE = Key("credentials_file", Str(),
                       "service-account JSON key file (relative to the config's directory); default: Google "
                       "application default credentials (GOOGLE_APPLICATION_CREDENTIALS, GKE Workload Identity)")
TYPE_KEYS: Mapping[str, tuple[Key, ...]] = {
    "azure": (API_VERSION, AZURE_AD_TOKEN),
    "bedrock": (CLOUD_BASE_URL, REGION, *AWS_KEYS),
    "vertex": (CLOUD_BASE_URL, PROJECT, LOCATION, CREDENTIALS_FILE),
}

PROVIDER = Tagged(
    "type",
    "wire protocol: openai (also vLLM, Ollama, Groq, DeepSeek, Mistral, xAI), anthropic, gemini, azure "
    "(Azure OpenAI: base_url is the resource endpoint, a deployment's model its deployment name), bedrock "
    "(AWS Bedrock: Converse for chat, InvokeModel for Claude asked on /v1/messages and for Titan and Cohere "
    "embeddings; SigV4-signed), vertex "
    "(Gemini, Claude and text-embedding models on Google Vertex AI, OAuth2 bearer tokens)",
    COMMON,
    {t: TYPE_KEYS.get(t, ()) for t in PROVIDER_TYPES},
    defaults=ProviderConfig,
    name="provider",
    doc="an upstream endpoint",
)

PROVIDERS = Map(
    PROVIDER,
    key_pattern=NAME_PATTERN,
    key_message="provider names use letters, digits, '_', '.' and '-'",
    min_items=1,
    empty_message="is required: at least one provider",
    example="""\
providers:
  openai:
    type: openai
    base_url: https://api.openai.com/v1
    api_key: "${OPENAI_API_KEY}"
    timeouts: {connect: 2s, first_token: 30s}
  anthropic:
    type: anthropic
    base_url: https://api.anthropic.com
    api_key: "${ANTHROPIC_API_KEY}"
    retry_on: [429, 5xx, 529, timeout, connect]
  local:
    type: openai
    base_url: http://vllm.default.svc:8000/v1
    limits: {rpm: 600}
""",
)


def _api_key(issues: Issues, v: Values, base_dir: Path) -> str | None:
    if "api_key" in v.raw and "api_key_file" in v.given:
        issues.error(v.path_of("api_key_file"), "set either api_key or api_key_file, not both")
        return None
    if "api_key_file" in v.given:
        path = Path(v["api_key_file"]).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            issues.error(v.path_of("api_key_file"), f"cannot read {str(path)!r}: {reason}")
            return None
        if not key:
            issues.error(v.path_of("api_key_file"), f"{str(path)!r} is empty")
            return None
        return key
    key = v["api_key"]
    if key is not None and not key.strip():
        issues.warn(v.path_of("api_key"), "is empty; requests to this provider will be unauthenticated")
        return None
    return key.strip() if key else None


def _provider(issues: Issues, name: str, v: Values, base_dir: Path, resilience: ResilienceConfig,
              env: Mapping[str, str]) -> ProviderConfig:
    breaker: BreakerConfig | None = None
    if "circuit_breaker" in v.given:
        breaker = build_breaker(issues, v["circuit_breaker"], resilience.circuit_breaker)
    ptype = v["type"] or "openai"
    base_url = v["base_url"] or _cloud_base_url(v, ptype)
    return ProviderConfig(
        name=name,
        type=ptype,
        base_url=base_url,
        api_key=_api_key(issues, v, base_dir),
        headers=MappingProxyType(dict(v["headers"])),
        timeouts=Timeouts(**v["timeouts"]),
        max_connections=v["max_connections"],
        limits=Limits(**v["limits"]),
        retry_on=frozenset(v["retry_on"]) if "retry_on" in v.given else None,
        circuit_breaker=breaker,
        drop_unsupported_params=v["drop_unsupported_params"],
        forward_headers=_forward_headers(issues, v, ptype),
        api_version=v.get("api_version"),
        azure_ad_token=_azure_ad_token(issues, v),
        proxy=build_proxy(issues, v, base_url, env),
        tls=build_tls(issues, v, base_dir),
        **_cloud(issues, v, ptype, base_dir),
    )


def _cloud_base_url(v: Values, ptype: str) -> str:
    """The endpoint a cloud provider has when `base_url` is left out."""
    if ptype == "bedrock" and v.get("region"):
        return f"https://bedrock-runtime.{v['region']}.amazonaws.com"
    if ptype == "vertex" and v.get("location"):
        # The global location has no regional host.
        location = v["location"]
        return "https://" + ("aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com")
    return ""


def _cloud(issues: Issues, v: Values, ptype: str, base_dir: Path) -> dict[str, Any]:
    """The bedrock and vertex keys (region, static AWS keys; project, location, key file)."""
    if ptype == "bedrock":
        key_id, secret = v.get("aws_access_key_id"), v.get("aws_secret_access_key")
        if bool(key_id) != bool(secret):
            missing = "aws_secret_access_key" if key_id else "aws_access_key_id"
            issues.error(v.path_of(missing), "is required with " + ("aws_access_key_id" if key_id else
                                                                      "aws_secret_access_key"))
        if v.get("aws_session_token") and not key_id:
            issues.error(v.path_of("aws_session_token"), "needs aws_access_key_id and aws_secret_access_key")
        return {"region": v.get("region"), "aws_access_key_id": key_id or None,
                "aws_secret_access_key": secret or None, "aws_session_token": v.get("aws_session_token") or None}
    if ptype == "vertex":
        return {"project": v.get("project"), "location": v.get("location"),
                "credentials_file": _credentials_file(issues, v, base_dir)}
    return {}


def _credentials_file(issues: Issues, v: Values, base_dir: Path) -> str | None:
    """The key file's absolute path; it is only checked to exist here (its private key is read
    by google-auth when credentials are fetched, never by the loader)."""
    if not v.get("credentials_file"):
        return None
    path = Path(v["credentials_file"]).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        issues.error(v.path_of("credentials_file"), f"{str(path)!r} is not a readable file")
        return None
    return str(path)


def _azure_ad_token(issues: Issues, v: Values) -> str | None:
    token = (v.get("azure_ad_token") or "").strip()
    if token and ("api_key" in v.given or "api_key_file" in v.given):
        issues.error(v.path_of("azure_ad_token"), "set either api_key (or api_key_file) or azure_ad_token, not both")
    return token or None


def _forward_headers(issues: Issues, v: Values, ptype: str) -> tuple[str, ...]:
    if "forward_headers" not in v.given:
        return FORWARD_DEFAULTS.get(ptype, ())
    names: list[str] = []
    for path, name in v.located("forward_headers"):
        if never_forwarded(name):
            issues.error(path, f"{name!r} is never forwarded (credentials, cookies, hop-by-hop and x-routecar-* "
                               "headers stay with routecar); use `headers` for fixed upstream headers")
            continue
        names.append(name.lower())
    return tuple(names)


def build_providers(
    issues: Issues, value: Any, base_dir: Path, resilience: ResilienceConfig, env: Mapping[str, str] | None = None
) -> dict[str, ProviderConfig]:
    """`env` (default: none) names the egress proxies (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)."""
    entries = PROVIDERS.parse(value, "providers", issues)
    if entries is INVALID:
        return {}
    assert isinstance(entries, Entries)
    return {name: _provider(issues, name, v, base_dir, resilience, env or {}) for name, v in entries.items()}
