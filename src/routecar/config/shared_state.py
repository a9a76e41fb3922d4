"""The `shared_state` section: one Redis shared by every pod for budgets, limits and caches.

The URL may carry a password, so no message here ever shows it as written: errors name the
URL through `mask_url_password`. Query parameters are limited to the ones that say where and
how to connect; redis-py lets URL options override the client's own settings, and a
`socket_timeout` in the URL must not undo `timeout`, the bound every request relies on.
"""

from __future__ import annotations

from typing import Any, Mapping

from .fields import Issues
from .kinds import INVALID, Defs, Duration, Enum, Int, Kind, Schema, Str, with_env
from .model import (
    REDIS_SCHEMES,
    SHARED_ON_UNAVAILABLE,
    RedisConfig,
    RouteConfig,
    SharedStateConfig,
    mask_url_password,
)
from .shapes import Key, Object

# Where to connect and how to authenticate and verify TLS; nothing that changes timeouts,
# retries or pooling, which routecar sets itself.
_URL_QUERY_KEYS = frozenset({
    "db", "username", "password", "client_name",
    "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname",
})
# A per-call bound longer than this would hold requests for a Redis that is effectively down.
MAX_TIMEOUT = 5.0
_EXAMPLE = "(e.g. redis://redis.platform:6379/0, rediss://:PASSWORD@host:6380/0 or unix:///run/redis.sock)"


def check_redis_url(url: str) -> str | None:
    """Why `url` is not a usable Redis URL, or None. The message never shows the password."""
    from urllib.parse import (  # only configs with shared_state get here
        parse_qsl,
        urlsplit,
    )

    shown = repr(mask_url_password(url))
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"is not a valid URL {_EXAMPLE}, got {shown}"
    try:
        port = parts.port
    except ValueError:
        return f"port must be between 1 and 65535, got {shown}"
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES or "://" not in url:
        return f"must be a redis://, rediss:// or unix:// URL {_EXAMPLE}, got {shown}"
    if any(c.isspace() for c in url):
        return f"must not contain spaces, got {shown}"
    if scheme == "unix":
        if not parts.path or parts.path == "/":
            return f"a unix:// URL needs the socket's path, as in unix:///run/redis.sock, got {shown}"
    else:
        if not parts.hostname:
            return f"needs a host {_EXAMPLE}, got {shown}"
        if port == 0:
            return f"port must be between 1 and 65535, got {shown}"
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            return f"the path must be a database number (as in /0), got {shown}"
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _URL_QUERY_KEYS:
            allowed = ", ".join(sorted(_URL_QUERY_KEYS))
            return (f"query parameter {key!r} is not supported here (allowed: {allowed}); "
                    "timeouts come from shared_state.redis.timeout")
        if key == "db" and not value.isdigit():
            return f"query parameter 'db' must be a database number, got {shown}"
    return None


class RedisUrl(Kind):
    """A redis://, rediss:// or unix:// URL; it may carry the password, so no message shows it."""

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        url = Str(secret=True).parse(value, path, issues)
        if url is INVALID:
            return INVALID
        problem = check_redis_url(url.strip())
        return self.error(issues, path, problem) if problem else url.strip()

    def schema(self, defs: Defs) -> Schema:
        schemes = "|".join("".join(f"[{c}{c.upper()}]" for c in scheme) for scheme in REDIS_SCHEMES)
        return with_env(defs, {"type": "string", "pattern": rf"^\s*({schemes})://\S*\s*$"})

    def type_name(self) -> str:
        return "URL"


REDIS = Object(
    Key("url", RedisUrl(), "redis://, rediss:// (TLS) or unix:// URL; may carry the password", required=True),
    Key("key_prefix", Str(allow_empty=True, max_length=64, pattern=r"[^\s\x00-\x1f\x7f-\x9f]*",
                          message="must be at most 64 printable characters without spaces"),
        "prefix of every key routecar writes, so fleets can share one Redis"),
    Key("timeout", Duration(positive=True, max=MAX_TIMEOUT, why="it bounds every Redis call a request waits for"),
        "bound on every Redis call a request waits for"),
    Key("max_connections", Int(min=1, max=256), "connections kept to Redis; also the most calls in flight"),
    Key("password", Str(secret=True), "password, overriding one in the URL (e.g. \"${REDIS_PASSWORD}\")"),
    defaults=RedisConfig,
    name="redis",
)

SHARED_STATE = Object(
    Key("redis", REDIS, "the Redis (or Valkey) every pod shares", required=True),
    Key("on_unavailable", Enum(SHARED_ON_UNAVAILABLE),
        "when Redis cannot answer in time: local (this pod's own state) or reject (503)"),
    defaults=SharedStateConfig,
    name="shared_state",
    example="""\
shared_state:
  redis: {url: "${REDIS_URL}", key_prefix: "team-a:", timeout: 50ms, max_connections: 8}
  on_unavailable: local
""",
)


def build_shared_state(issues: Issues, value: Any) -> SharedStateConfig | None:
    if value is None:
        return None  # left off (or all commented out): per-pod state
    v = SHARED_STATE.parse(value, "shared_state", issues)
    if v is INVALID or "redis" not in v.given:
        return None
    r = v["redis"]
    return SharedStateConfig(redis=RedisConfig(**{**r, "url": r["url"] or ""}), on_unavailable=v["on_unavailable"])


def check_shared_routes(issues: Issues, routes: Mapping[str, RouteConfig], section: Any) -> None:
    """`cache.exact.shared: true` needs a shared_state section (`section`, as written) to share
    through; a section that is there but wrong has its own errors, not this one as well."""
    if section is not None:
        return
    for name, route in routes.items():
        exact = route.cache.exact if route.cache is not None else None
        if exact is not None and exact.shared:
            issues.error(f"routes.{name}.cache.exact.shared",
                         "needs shared_state (a Redis to share the cache through); "
                         "configure shared_state.redis.url or set shared: false")
