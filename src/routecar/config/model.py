"""Frozen, validated configuration objects.

`sidecar.yaml` is parsed and validated once (see `loader.py`) into these objects; request
handlers take one `Config` snapshot at the start of a request and keep it to the end, so a
reload never changes the rules under a request in flight. Nothing here does I/O.

Durations are always seconds as floats; rates are fractions in [0, 1]; prices are USD per
1M tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

PROVIDER_TYPES = ("openai", "anthropic", "gemini", "azure", "bedrock", "vertex")
STRATEGIES = ("ordered", "weighted", "cheapest", "fastest", "balanced", "quality", "cascade")
CAPABILITIES = ("chat", "tools", "vision", "json_schema", "embeddings", "streaming")

EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


def _empty_map() -> Mapping[str, Any]:
    # A mappingproxy is unhashable on 3.11, so dataclasses refuse it as a plain default.
    return EMPTY_MAP


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: Listen = Listen("127.0.0.1", 7300)
    admin_listen: Listen = Listen("127.0.0.1", 7301)
    max_body_bytes: int = 8 * 1024 * 1024
    # Largest upstream answer a non-streaming request may hold, after decompression. An LLM
    # answer is rarely over a few MiB; this keeps a gzip bomb or a runaway body far below the
    # pod's memory limit (the Helm chart gives the sidecar 128 MiB).
    max_response_bytes: int = 16 * 1024 * 1024
    # Largest single server-sent event from an upstream stream; a stream that sends more
    # without ending the event fails as malformed (failover before the first byte, an explicit
    # error after it).
    max_event_bytes: int = 1024 * 1024
    drain_timeout: float = 20.0
    # Longest a request may wait for a rate-limit reset or a queue slot (docs/failure-semantics.md).
    max_queue_wait: float = 5.0
    max_queue: int = 256
    # Deadline of a request that sends no x-routecar-timeout-ms.
    default_timeout: float = 600.0
    # One JSON line per finished request on stdout; off by default because the route log
    # already holds every request, and a busy pod's log shipper pays for each line.
    log_requests: bool = False


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 5.0
    # Also bounds a non-streaming answer's start: raise it for slow reasoning models.
    first_token: float = 120.0
    idle: float = 60.0
    total: float = 600.0


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int | None = None
    tpm: int | None = None


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    window: float = 30.0
    min_requests: int = 10
    failure_rate: float = 0.5
    consecutive_failures: int = 5
    open_for: float = 30.0
    max_open_for: float = 300.0
    half_open_probes: int = 1


# Outcome classes that `retry_on` may name besides plain statuses.
RETRY_CLASSES = ("429", "5xx", "timeout", "connect")


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.05
    max: float = 1.0


@dataclass(frozen=True, slots=True)
class RetryBudget:
    # Retries may add at most `ratio` of live traffic, but never fewer than `min_per_second`.
    ratio: float = 0.2
    min_per_second: float = 5.0


@dataclass(frozen=True, slots=True)
class RetryConfig:
    max_attempts: int = 3
    # Plain ints are statuses; strings are classes from RETRY_CLASSES ("5xx", "timeout", ...).
    retry_on: frozenset[int | str] = frozenset({"429", "5xx", "timeout", "connect"})
    backoff: Backoff = Backoff()
    budget: RetryBudget = RetryBudget()


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """Active health checks of open circuits (as Envoy and Caddy do): while a deployment's
    circuit is open, its provider's models list is fetched every `interval` (with a little
    jitter); a 2xx answer ends the open period, so the next real request probes it."""

    enabled: bool = True
    interval: float = 5.0
    timeout: float = 2.0


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    """Hedged first tokens: after `after` seconds without a first content token, one more
    attempt races the first; `after` "p95" is the deployment's observed TTFT p95."""

    after: float | str = 0.3


@dataclass(frozen=True, slots=True)
class ResilienceConfig:
    retry: RetryConfig = RetryConfig()
    circuit_breaker: BreakerConfig = BreakerConfig()
    # Upper bound on a 429 cooldown, whatever the provider's reset header says.
    max_cooldown: float = 300.0
    health_check: HealthCheckConfig = HealthCheckConfig()
    hedge: HedgeConfig | None = None  # off unless written (a model's or route's own wins)


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """An http:// forward proxy: CONNECT tunnels for https upstreams, absolute-form requests
    for http ones. Credentials (Basic auth) are never printed."""

    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS towards one provider: a private CA bundle (used instead of the system store, as
    curl's --cacert) and a client certificate for mTLS. Paths are absolute; `digest` hashes the
    files' contents as read at load, so a reload after a certificate rotation makes new
    connections while an unchanged one keeps the pool."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    digest: str = ""


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    type: str
    base_url: str
    # Never printed: repr=False keeps keys out of logs, tracebacks and `routecar check`.
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=_empty_map, repr=False)
    timeouts: Timeouts = Timeouts()
    max_connections: int = 100
    limits: Limits = Limits()
    # Per-provider overrides of resilience.retry.retry_on and resilience.circuit_breaker.
    retry_on: frozenset[int | str] | None = None
    circuit_breaker: BreakerConfig | None = None
    drop_unsupported_params: bool = False
    # App request headers sent on upstream (lower case); the loader fills in the type's defaults
    # (providers_section.FORWARD_DEFAULTS) when the file names none.
    forward_headers: tuple[str, ...] = ()
    # Azure OpenAI: the `api-version` query every request carries, and an Entra ID (AAD) token
    # sent as a bearer token instead of the `api-key` header.
    api_version: str | None = None
    azure_ad_token: str | None = field(default=None, repr=False)
    # The egress proxy this provider's connections go through (None: direct), resolved at load
    # from `proxy` or the environment's HTTPS_PROXY / HTTP_PROXY / NO_PROXY.
    proxy: ProxyConfig | None = None
    tls: TlsConfig | None = None
    # Clouds (providers/credentials.py): `region` for AWS Bedrock (SigV4 signing; credentials
    # from botocore's chain unless the static keys are set), `project` and `location` for Google
    # Vertex AI (bearer tokens from `credentials_file` or application default credentials).
    region: str | None = None
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    project: str | None = None
    location: str | None = None
    credentials_file: str | None = None

    def secrets(self) -> tuple[str, ...]:
        """Every credential of this provider, for the redactor (defence in depth)."""
        found = (self.api_key, self.azure_ad_token, self.proxy.password if self.proxy else None,
                 self.aws_secret_access_key, self.aws_session_token)
        return tuple(s for s in found if s)


@dataclass(frozen=True, slots=True)
class Price:
    input: float = 0.0
    output: float = 0.0
    cached_input: float | None = None
    cache_write: float | None = None  # prompt tokens written to a provider's cache (Anthropic)


@dataclass(frozen=True, slots=True)
class Deployment:
    provider: str
    model: str
    weight: float = 1.0

    @property
    def id(self) -> str:
        """Stable key for health state: `provider/upstream-model`."""
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True)
class ModelConfig:
    slug: str
    deployments: tuple[Deployment, ...]
    price: Price = Price()
    context_window: int | None = None
    max_output_tokens: int | None = None
    capabilities: frozenset[str] = frozenset({"chat", "tools", "streaming"})
    quality: float | None = None
    fallbacks: tuple[str, ...] = ()
    hedge: HedgeConfig | None = None
    # How a request picks among the deployments: `weighted` random, or `least_request`
    # (power of two choices on in-flight requests per unit of weight).
    balancing: str = "weighted"

    @property
    def is_embedding(self) -> bool:
        return "embeddings" in self.capabilities


@dataclass(frozen=True)
class RuleAction:
    candidates: tuple[str, ...] | None = None
    strategy: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Rule:
    # Condition keys as in docs/configuration.md: "tags.KEY", "prompt_tokens_gt", "prompt_tokens_lt",
    # "has_tools", "has_images", "json_mode", "matches", "class.NAME".
    when: Mapping[str, Any]
    then: RuleAction


@dataclass(frozen=True)
class CascadeConfig:
    # Each check is "json", "json_schema", "finish_reason", "non_empty" or ("regex", PATTERN).
    checks: tuple[str | tuple[str, str], ...] = ("finish_reason", "non_empty")


@dataclass(frozen=True)
class BudgetConfig:
    period: str  # hour | day | month
    usd: float
    when_exceeded: str = "reject"  # reject | downgrade
    downgrade_to: str | None = None
    per_tag: str | None = None  # a budget per value of this tag (e.g. team)


@dataclass(frozen=True)
class CanaryConfig:
    model: str
    percent: float
    rollback: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ShadowConfig:
    strategy: str


@dataclass(frozen=True)
class ExactCacheConfig:
    ttl: float = 600.0
    max_entries: int = 10000
    max_bytes: int = 64 * 1024 * 1024
    # Shared by every pod through `shared_state` (Redis) instead of one cache per pod; the
    # bounds then hold for the fleet's one copy.
    shared: bool = False


@dataclass(frozen=True)
class SemanticCacheConfig:
    model: str
    min_similarity: float = 0.95
    ttl: float = 600.0
    max_entries: int = 1000


@dataclass(frozen=True)
class CacheConfig:
    exact: ExactCacheConfig | None = None
    semantic: SemanticCacheConfig | None = None


@dataclass(frozen=True)
class RouteConfig:
    name: str
    strategy: str
    candidates: tuple[str, ...]
    weights: Mapping[str, float] = field(default_factory=_empty_map)  # for `weighted`
    rules: tuple[Rule, ...] = ()
    cascade: CascadeConfig | None = None
    budget: BudgetConfig | None = None
    canary: CanaryConfig | None = None
    shadow: ShadowConfig | None = None
    cache: CacheConfig | None = None
    # `balanced` weights over normalized cost, latency and quality.
    balance: Mapping[str, float] = field(default_factory=_empty_map)
    # Skip deployments whose measured p99 TTFT exceeds this while another meets it.
    max_ttft_p99: float | None = None
    hedge: HedgeConfig | None = None


@dataclass(frozen=True)
class ClassifierConfig:
    name: str
    type: str  # heuristic | llm | embedding
    model: str | None = None
    labels: Any = None  # list of labels (llm) or {label: [examples]} (embedding)
    timeout: float = 0.3
    min_similarity: float = 0.6
    default: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class Retention:
    max_age: float | None = 7 * 86400.0
    max_rows: int | None = 1_000_000


@dataclass(frozen=True, slots=True)
class RouteLogConfig:
    path: str = "./routes.db"
    flush_interval: float = 0.25
    batch_size: int = 500
    queue_size: int = 50_000
    retention: Retention = Retention()
    record_prompts: bool = False


ROUTE_ROWS = ("none", "otlp_logs", "stdout")


@dataclass(frozen=True, slots=True)
class OtlpConfig:
    """An OTLP/HTTP (protobuf) collector: traces go to `{endpoint}/v1/traces`, logs to `/v1/logs`."""

    endpoint: str = ""
    headers: Mapping[str, str] = field(default_factory=_empty_map, repr=False)  # may carry credentials
    sample_ratio: float = 1.0
    timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class TelemetryConfig:
    """OpenTelemetry export, built from finished route rows off the request path."""

    otlp: OtlpConfig | None = None  # None: no spans, nothing imported
    route_rows: str = "none"  # each route row also goes to stdout or to OTLP logs

    @property
    def enabled(self) -> bool:
        return self.otlp is not None or self.route_rows != "none"


SHARED_ON_UNAVAILABLE = ("local", "reject")
REDIS_SCHEMES = ("redis", "rediss", "unix")
_MASK = "***"


def mask_url_password(url: str) -> str:
    """`url` with its password (userinfo or `?password=`) replaced by ***, for every display.

    A userinfo without a colon is masked whole: Redis URLs have no use for a lone user name,
    so it is most likely a password written in the wrong place.
    """
    from urllib.parse import parse_qsl, urlencode, urlsplit  # only when displayed

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc and "password" not in parts.query.lower():
        return url  # nothing to hide: shown exactly as written
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}:{_MASK}@{hostport}" if colon else f"{_MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, _MASK if k.lower() == "password" else v) for k, v in pairs], safe="*/:")
    # Put together by hand: urlunsplit drops the "//" of an empty host (unix:///path).
    text = f"{parts.scheme}://{netloc}{parts.path}" if "://" in url else f"{parts.scheme}:{netloc}{parts.path}"
    return text + (f"?{query}" if query else "") + (f"#{parts.fragment}" if parts.fragment else "")


@dataclass(frozen=True, slots=True, repr=False)
class RedisConfig:
    # May carry the password: never printed as written; `display_url` masks it.
    url: str
    key_prefix: str = "routecar:"
    # Bound on every Redis call a request waits for (the pool's wait included).
    timeout: float = 0.05
    # Connections the process keeps to Redis; also the most calls in flight at once.
    max_connections: int = 8
    # Overrides a password in the URL; lets a password with URL-special characters come from
    # the environment without percent-encoding.
    password: str | None = None

    @property
    def display_url(self) -> str:
        return mask_url_password(self.url)

    def secrets(self) -> tuple[str, ...]:
        """Credentials to register with the process's Redactor (the URL's password too)."""
        from urllib.parse import parse_qsl, unquote, urlsplit

        found: list[str] = [self.password] if self.password else []
        try:
            parts = urlsplit(self.url)
        except ValueError:
            return (*found, self.url)
        if parts.password:
            found += [parts.password, unquote(parts.password)]
        elif parts.username and parts.netloc.rpartition("@")[0] == parts.username:
            found.append(unquote(parts.username))
        found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
        return tuple(dict.fromkeys(found))

    def __repr__(self) -> str:
        password = ", password=***" if self.password else ""
        return (f"RedisConfig(url={self.display_url!r}, key_prefix={self.key_prefix!r}, "
                f"timeout={self.timeout!r}, max_connections={self.max_connections!r}{password})")


@dataclass(frozen=True, slots=True)
class SharedStateConfig:
    """Fleet-wide budgets, client-side limits and (per route) exact caches in Redis."""

    redis: RedisConfig
    # What a request gets when Redis cannot answer in time: `local` falls back to this pod's
    # own state (logged and counted), `reject` answers 503.
    on_unavailable: str = "local"


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    providers: Mapping[str, ProviderConfig]
    models: Mapping[str, ModelConfig]
    routes: Mapping[str, RouteConfig]
    resilience: ResilienceConfig
    route_log: RouteLogConfig
    classifiers: Mapping[str, ClassifierConfig] = field(default_factory=_empty_map)
    # None: budgets, limits and caches are per pod (no Redis is ever contacted or imported).
    shared_state: SharedStateConfig | None = None
    telemetry: TelemetryConfig = TelemetryConfig()
    # sha256 (first 12 hex chars) of the file bytes: the `config_hash` column of each row.
    hash: str = ""
    source: str = ""
    # Problems that do not stop serving (e.g. a provider whose api_key variable is unset).
    warnings: tuple[str, ...] = ()

    def breaker_for(self, provider: str) -> BreakerConfig:
        override = self.providers[provider].circuit_breaker
        return override or self.resilience.circuit_breaker

    def retry_on_for(self, provider: str) -> frozenset[int | str]:
        override = self.providers[provider].retry_on
        return override if override is not None else self.resilience.retry.retry_on

    def names(self) -> list[str]:
        """Every name a request's `model` may take: model slugs and route names."""
        return sorted({*self.models, *self.routes})
