"""The infrastructure sections: `server`, `providers`, `resilience` and `route_log`."""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import found
from .fields import Issues, Node, join
from .model import (
    PROVIDER_TYPES,
    RETRY_CLASSES,
    Backoff,
    BreakerConfig,
    HealthCheckConfig,
    Limits,
    Listen,
    ProviderConfig,
    ResilienceConfig,
    Retention,
    RetryBudget,
    RetryConfig,
    RouteLogConfig,
    ServerConfig,
    Timeouts,
)

# Provider names end up in deployment ids ("provider/model"), metrics labels and log rows.
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_PORT = re.compile(r"\d{1,5}")

SERVER_KEYS = (
    "listen", "admin_listen", "max_body_bytes", "max_response_bytes", "max_event_bytes", "drain_timeout",
    "max_queue_wait", "max_queue", "default_timeout", "log_requests",
)  # fmt: skip
PROVIDER_KEYS = (
    "type", "base_url", "api_key", "api_key_file", "headers", "timeouts", "max_connections",
    "limits", "retry_on", "circuit_breaker", "drop_unsupported_params",
)  # fmt: skip
BREAKER_KEYS = (
    "window", "min_requests", "failure_rate", "consecutive_failures",
    "open_for", "max_open_for", "half_open_probes",
)  # fmt: skip


def parse_listen(value: Any, path: str, issues: Issues, default: Listen) -> Listen:
    """"host:port" or "[v6-host]:port". The host is always explicit: a bare ":7300" could mean
    loopback or every interface, and guessing wrong exposes the proxy."""
    example = "(e.g. 127.0.0.1:7300, 0.0.0.0:7300 or [::1]:7300)"
    if value is None:
        return default
    if not isinstance(value, str):
        issues.error(path, f"must be a \"host:port\" string {example}, got {found(value)}")
        return default
    text = value.strip()
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        issues.error(path, f"an IPv6 host needs brackets, as in [::1]:7300, got {value!r}")
        return default
    if not host or not _PORT.fullmatch(port) or int(port) > 65535:
        issues.error(path, f"must be \"host:port\" with an explicit host {example}, got {value!r}")
        return default
    return Listen(host, int(port))


def parse_server(issues: Issues, value: Any) -> ServerConfig:
    n = Node.of(issues, value, "server", SERVER_KEYS)
    base = ServerConfig()
    if n is None:
        return base
    listen = parse_listen(n.get("listen"), n.path_of("listen"), issues, base.listen)
    admin = parse_listen(n.get("admin_listen"), n.path_of("admin_listen"), issues, base.admin_listen)
    if listen == admin and listen.port != 0:
        n.error("admin_listen", f"must differ from server.listen ({listen})")
    return ServerConfig(
        listen=listen,
        admin_listen=admin,
        max_body_bytes=n.size("max_body_bytes", base.max_body_bytes),
        max_response_bytes=n.size("max_response_bytes", base.max_response_bytes),
        max_event_bytes=n.size("max_event_bytes", base.max_event_bytes),
        drain_timeout=n.duration("drain_timeout", base.drain_timeout),
        max_queue_wait=n.duration("max_queue_wait", base.max_queue_wait),
        max_queue=n.int("max_queue", base.max_queue, min=0),
        default_timeout=n.duration("default_timeout", base.default_timeout, positive=True),
        log_requests=n.bool("log_requests", base.log_requests),
    )


def parse_retry_on(n: Node, key: str) -> frozenset[int | str] | None:
    """Statuses (ints) and outcome classes; a 429 written as a number is the "429" class."""
    if not n.has(key):
        return None
    allowed = ", ".join(RETRY_CLASSES)
    out: set[int | str] = set()
    for path, item in n.list(key):
        text = str(item).strip() if isinstance(item, (str, int)) and not isinstance(item, bool) else None
        if text in RETRY_CLASSES:
            out.add(text)
        elif text is not None and text.isdigit() and 100 <= int(text) <= 599:
            out.add(int(text))
        else:
            n.issues.error(path, f"must be a status (100-599) or one of {allowed}, got {found(item)}")
    return frozenset(out)


def parse_breaker(n: Node, base: BreakerConfig) -> BreakerConfig:
    """A breaker from `n`, each unset key taken from `base` (the global one, for overrides)."""
    open_for = n.duration("open_for", base.open_for, positive=True)
    max_open_for = n.duration("max_open_for", None, positive=True)
    if max_open_for is None:
        # An unset cap never undercuts a longer open_for written next to it.
        max_open_for = max(base.max_open_for, open_for)
    elif max_open_for < open_for:
        n.error("max_open_for", f"must be >= open_for ({open_for:g}s), got {max_open_for:g}s")
    return BreakerConfig(
        window=n.duration("window", base.window, positive=True),
        min_requests=n.int("min_requests", base.min_requests, min=1),
        failure_rate=n.rate("failure_rate", base.failure_rate, positive=True),
        consecutive_failures=n.int("consecutive_failures", base.consecutive_failures, min=1),
        open_for=open_for,
        max_open_for=max_open_for,
        half_open_probes=n.int("half_open_probes", base.half_open_probes, min=1),
    )


def parse_health_check(n: Node, base: HealthCheckConfig) -> HealthCheckConfig:
    interval = n.duration("interval", base.interval, positive=True)
    timeout = n.duration("timeout", base.timeout, positive=True)
    if timeout > interval:
        # A probe still waiting when the next one is due would only pile up behind it.
        n.error("timeout", f"must be <= interval ({interval:g}s), got {timeout:g}s")
    return HealthCheckConfig(enabled=n.bool("enabled", base.enabled), interval=interval, timeout=timeout)


def parse_resilience(issues: Issues, value: Any) -> ResilienceConfig:
    n = Node.of(issues, value, "resilience", ("retry", "circuit_breaker", "max_cooldown", "health_check"))
    base = ResilienceConfig()
    if n is None:
        return base
    retry = base.retry
    r = n.node("retry", ("max_attempts", "retry_on", "backoff", "budget"))
    if r is not None:
        backoff = retry.backoff
        b = r.node("backoff", ("base", "max"))
        if b is not None:
            backoff = Backoff(b.duration("base", backoff.base), b.duration("max", backoff.max))
            if backoff.max < backoff.base:
                b.error("max", f"must be >= backoff.base ({backoff.base:g}s), got {backoff.max:g}s")
        budget = retry.budget
        g = r.node("budget", ("ratio", "min_per_second"))
        if g is not None:
            budget = RetryBudget(
                ratio=g.rate("ratio", budget.ratio),
                min_per_second=g.number("min_per_second", budget.min_per_second, min=0),
            )
        retry_on = parse_retry_on(r, "retry_on")
        retry = RetryConfig(
            max_attempts=r.int("max_attempts", retry.max_attempts, min=1),
            retry_on=retry.retry_on if retry_on is None else retry_on,
            backoff=backoff,
            budget=budget,
        )
    breaker = base.circuit_breaker
    c = n.node("circuit_breaker", BREAKER_KEYS)
    if c is not None:
        breaker = parse_breaker(c, breaker)
    health_check = base.health_check
    h = n.node("health_check", ("enabled", "interval", "timeout"))
    if h is not None:
        health_check = parse_health_check(h, health_check)
    return ResilienceConfig(
        retry=retry,
        circuit_breaker=breaker,
        max_cooldown=n.duration("max_cooldown", base.max_cooldown, positive=True),
        health_check=health_check,
    )


def _base_url(n: Node) -> str:
    url = n.str("base_url")
    if url is None:
        return ""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if not sep or scheme.lower() not in ("http", "https") or not host or " " in url:
        n.error("base_url", f"must be an http:// or https:// URL, got {url!r}")
    return url


def _api_key(n: Node, base_dir: Path) -> str | None:
    if "api_key" in n.data and n.has("api_key_file"):
        n.error("api_key_file", "set either api_key or api_key_file, not both")
        return None
    if n.has("api_key_file"):
        name = n.str("api_key_file")
        if name is None:
            return None
        path = Path(name).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            n.error("api_key_file", f"cannot read {str(path)!r}: {reason}")
            return None
        if not key:
            n.error("api_key_file", f"{str(path)!r} is empty")
            return None
        return key
    key = n.str("api_key", secret=True, allow_empty=True)
    if key is not None and not key.strip():
        n.issues.warn(n.path_of("api_key"), "is empty; requests to this provider will be unauthenticated")
        return None
    return key.strip() if key else None


def _headers(n: Node) -> MappingProxyType[str, str]:
    h = n.node("headers", None)
    out: dict[str, str] = {}
    if h is None:
        return MappingProxyType(out)
    for name, value in h.data.items():
        path = join(h.path, name)
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            n.issues.error(path, "is not a valid HTTP header name")
        elif not isinstance(value, str):
            # Header values often carry credentials: name the type, never the value.
            n.issues.error(path, f"must be a string, got a value of type {type(value).__name__}")
        elif "\n" in value or "\r" in value:
            n.issues.error(path, "must not contain line breaks")
        else:
            out[name] = str(value)
    return MappingProxyType(out)


def parse_provider(
    issues: Issues, name: str, value: Any, base_dir: Path, resilience: ResilienceConfig
) -> ProviderConfig | None:
    n = Node.of(issues, value, f"providers.{name}", PROVIDER_KEYS, required=("type", "base_url"))
    if n is None:
        return None
    t = n.node("timeouts", ("connect", "first_token", "idle", "total"))
    timeouts = Timeouts()
    if t is not None:
        timeouts = Timeouts(
            connect=t.duration("connect", timeouts.connect, positive=True),
            first_token=t.duration("first_token", timeouts.first_token, positive=True),
            idle=t.duration("idle", timeouts.idle, positive=True),
            total=t.duration("total", timeouts.total, positive=True),
        )
    limits = Limits()
    lim = n.node("limits", ("rpm", "tpm"))
    if lim is not None:
        limits = Limits(rpm=lim.int("rpm", None, min=1), tpm=lim.int("tpm", None, min=1))
    breaker = None
    if n.has("circuit_breaker"):
        c = n.node("circuit_breaker", BREAKER_KEYS)
        breaker = parse_breaker(c, resilience.circuit_breaker) if c is not None else None
    return ProviderConfig(
        name=name,
        type=n.str("type", "openai", choices=PROVIDER_TYPES),
        base_url=_base_url(n),
        api_key=_api_key(n, base_dir),
        headers=_headers(n),
        timeouts=timeouts,
        max_connections=n.int("max_connections", 100, min=1),
        limits=limits,
        retry_on=parse_retry_on(n, "retry_on"),
        circuit_breaker=breaker,
        drop_unsupported_params=n.bool("drop_unsupported_params", False),
    )


def parse_providers(
    issues: Issues, value: Any, base_dir: Path, resilience: ResilienceConfig
) -> dict[str, ProviderConfig]:
    n = Node.of(issues, value, "providers", None)
    out: dict[str, ProviderConfig] = {}
    if n is None:
        return out
    if not n.data:
        issues.error("providers", "is required: at least one provider")
    for name, body in n.data.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            issues.error(join("providers", name), "provider names use letters, digits, '_', '.' and '-'")
            continue
        provider = parse_provider(issues, name, body, base_dir, resilience)
        if provider is not None:
            out[name] = provider
    return out


def parse_route_log(issues: Issues, value: Any) -> RouteLogConfig:
    keys = ("path", "flush_interval", "batch_size", "queue_size", "retention", "record_prompts")
    n = Node.of(issues, value, "route_log", keys)
    base = RouteLogConfig()
    if n is None:
        return base
    retention = base.retention
    raw = n.get("retention")
    if isinstance(raw, dict):
        r = n.node("retention", ("max_age", "max_rows"))
        if r is not None:
            retention = Retention(
                max_age=r.duration("max_age", retention.max_age, positive=True, nullable=True),
                max_rows=r.int("max_rows", retention.max_rows, min=1, nullable=True),
            )
    elif raw is not None:
        retention = Retention(n.duration("retention", retention.max_age, positive=True), retention.max_rows)
    batch_size = n.int("batch_size", base.batch_size, min=1)
    queue_size = n.int("queue_size", base.queue_size, min=1)
    if queue_size < batch_size:
        n.error("queue_size", f"must be >= batch_size ({batch_size}), got {queue_size}")
    return RouteLogConfig(
        path=n.str("path", base.path),
        flush_interval=n.duration("flush_interval", base.flush_interval, positive=True),
        batch_size=batch_size,
        queue_size=queue_size,
        retention=retention,
        record_prompts=n.bool("record_prompts", base.record_prompts),
    )
