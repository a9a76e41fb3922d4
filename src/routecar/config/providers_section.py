"""The `providers` section: upstream endpoints, their credentials, time budgets and limits.

A provider's keys depend on its `type` (the wire protocol): keys every type takes are in
`COMMON`, keys of one type in `TYPE_KEYS` (e.g. `"azure": (API_VERSION,)`).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .alternatives import Tagged
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
)
# The app headers each provider type forwards when `forward_headers` is left out.
FORWARD_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("anthropic-beta",),
    "openai": ("openai-organization", "openai-project"),
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
TYPE_KEYS: Mapping[str, tuple[Key, ...]] = {}

PROVIDER = Tagged(
    "type",
    "wire protocol: openai (also vLLM, Ollama, Groq, DeepSeek, Mistral, xAI), anthropic, gemini",
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


def _provider(issues: Issues, name: str, v: Values, base_dir: Path, resilience: ResilienceConfig) -> ProviderConfig:
    breaker: BreakerConfig | None = None
    if "circuit_breaker" in v.given:
        breaker = build_breaker(issues, v["circuit_breaker"], resilience.circuit_breaker)
    ptype = v["type"] or "openai"
    return ProviderConfig(
        name=name,
        type=ptype,
        base_url=v["base_url"] or "",
        api_key=_api_key(issues, v, base_dir),
        headers=MappingProxyType(dict(v["headers"])),
        timeouts=Timeouts(**v["timeouts"]),
        max_connections=v["max_connections"],
        limits=Limits(**v["limits"]),
        retry_on=frozenset(v["retry_on"]) if "retry_on" in v.given else None,
        circuit_breaker=breaker,
        drop_unsupported_params=v["drop_unsupported_params"],
        forward_headers=_forward_headers(issues, v, ptype),
    )


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
    issues: Issues, value: Any, base_dir: Path, resilience: ResilienceConfig
) -> dict[str, ProviderConfig]:
    entries = PROVIDERS.parse(value, "providers", issues)
    if entries is INVALID:
        return {}
    assert isinstance(entries, Entries)
    return {name: _provider(issues, name, v, base_dir, resilience) for name, v in entries.items()}
