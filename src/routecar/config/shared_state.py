"""The `shared_state` section: one Redis shared by every pod for budgets, limits and caches.

The URL may carry a password, so no message here ever shows it as written: errors name the
URL through `mask_url_password`. Query parameters are limited to the ones that say where and
how to connect; redis-py lets URL options override the client's own settings, and a
`socket_timeout` in the URL must not undo `timeout`, the bound every request relies on.
"""

from __future__ import annotations

from typing import Any, Mapping

from .fields import Issues, Node
from .model import (
    REDIS_SCHEMES,
    SHARED_ON_UNAVAILABLE,
    RedisConfig,
    RouteConfig,
    SharedStateConfig,
    mask_url_password,
)

REDIS_KEYS = ("url", "key_prefix", "timeout", "max_connections", "password")
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


def _key_prefix(r: Node) -> str:
    prefix = r.str("key_prefix", "routecar:", allow_empty=True)
    if prefix is None:
        return "routecar:"
    if len(prefix) > 64 or any(c.isspace() or not c.isprintable() for c in prefix):
        r.error("key_prefix", f"must be at most 64 printable characters without spaces, got {prefix[:70]!r}")
    return prefix


def parse_shared_state(issues: Issues, value: Any) -> SharedStateConfig | None:
    if value is None:
        return None  # left off (or all commented out): per-pod state
    n = Node.of(issues, value, "shared_state", ("redis", "on_unavailable"), required=("redis",))
    if n is None:
        return None
    on_unavailable = n.str("on_unavailable", "local", choices=SHARED_ON_UNAVAILABLE) or "local"
    r = n.section("redis", REDIS_KEYS, required=("url",))
    if r is None:
        return None
    url = r.str("url", secret=True)
    if url is not None:
        problem = check_redis_url(url.strip())
        if problem:
            r.error("url", problem)
        url = url.strip()
    timeout = r.duration("timeout", 0.05, positive=True) or 0.05
    if timeout > MAX_TIMEOUT:
        r.error("timeout", f"must be <= {MAX_TIMEOUT:g}s: it bounds every Redis call a request waits for, "
                           f"got {timeout:g}s")
    password = r.str("password", secret=True)
    redis = RedisConfig(
        url=url or "",
        key_prefix=_key_prefix(r),
        timeout=timeout,
        max_connections=r.int("max_connections", 8, min=1, max=256) or 8,
        password=password,
    )
    return SharedStateConfig(redis=redis, on_unavailable=on_unavailable)


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
