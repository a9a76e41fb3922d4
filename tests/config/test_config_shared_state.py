"""`shared_state` and `routes.NAME.cache.exact.shared`: parsing, errors, and a password that is
never shown."""

from __future__ import annotations

import pytest

from routecar.config import ConfigError, parse_config
from routecar.config.describe import format_config
from routecar.config.model import Config, RedisConfig, mask_url_password

BASE = """
providers: {p: {type: openai, base_url: 'http://127.0.0.1:1/v1'}}
models: {m: {deployments: [{provider: p}]}}
routes: {r: {strategy: ordered, candidates: [m], cache: {exact: {ttl: 1m, shared: %s}}}}
"""
PASSWORD = "Zx9-redis-pw-4471"


def config(shared_state: str = "", shared: str = "false", env: dict[str, str] | None = None) -> Config:
    return parse_config(BASE % shared + shared_state, env=env or {})


def errors(shared_state: str, shared: str = "false", env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        config(shared_state, shared, env)
    return exc.value.errors


def test_absent_means_per_pod_state() -> None:
    c = config()
    assert c.shared_state is None
    assert c.routes["r"].cache.exact.shared is False
    assert "shared state: none" in format_config(c)


def test_the_section_with_its_defaults_and_env_interpolation() -> None:
    c = config("shared_state: {redis: {url: '${REDIS_URL}'}}\n", shared="true",
               env={"REDIS_URL": f"redis://:{PASSWORD}@redis.platform:6379/0"})
    s = c.shared_state
    assert s is not None and s.on_unavailable == "local"
    assert (s.redis.key_prefix, s.redis.timeout, s.redis.max_connections) == ("routecar:", 0.05, 8)
    assert s.redis.url == f"redis://:{PASSWORD}@redis.platform:6379/0"
    assert c.routes["r"].cache.exact.shared is True


def test_every_key_set() -> None:
    c = config("""
shared_state:
  redis: {url: "rediss://routecar@redis.platform:6380/2", key_prefix: "team-a:", timeout: 20ms,
          max_connections: 4, password: "${PW}"}
  on_unavailable: reject
""", env={"PW": PASSWORD})
    s = c.shared_state
    assert s is not None
    assert (s.redis.key_prefix, s.redis.timeout, s.redis.max_connections, s.redis.password) == \
        ("team-a:", 0.02, 4, PASSWORD)
    assert s.on_unavailable == "reject"


def test_unix_sockets_are_urls_too() -> None:
    c = config("shared_state: {redis: {url: 'unix:///run/redis/redis.sock?db=1'}}\n")
    assert c.shared_state is not None and c.shared_state.redis.url.startswith("unix://")


def test_the_password_is_masked_in_every_display() -> None:
    url = f"redis://admin:{PASSWORD}@redis.platform:6379/0"
    c = config(f"shared_state: {{redis: {{url: '{url}', password: '{PASSWORD}x'}}}}\n")
    s = c.shared_state
    assert s is not None
    assert s.redis.display_url == "redis://admin:***@redis.platform:6379/0"
    for shown in (format_config(c), repr(s), repr(c), str(s.redis)):
        assert PASSWORD not in shown
    assert "redis://admin:***@redis.platform:6379/0" in format_config(c)
    assert set(s.redis.secrets()) >= {PASSWORD, PASSWORD + "x"}  # for the process's Redactor
    assert mask_url_password(f"unix:///run/r.sock?db=0&password={PASSWORD}") == "unix:///run/r.sock?db=0&password=***"
    assert mask_url_password(f"redis://{PASSWORD}@h:6379") == "redis://***@h:6379"
    assert mask_url_password("redis://h:6379/0") == "redis://h:6379/0"
    assert RedisConfig("redis://h").secrets() == ()


@pytest.mark.parametrize(("url", "message"), [
    ("http://redis:6379", "must be a redis://, rediss:// or unix:// URL"),
    ("redis.platform:6379", "must be a redis://, rediss:// or unix:// URL"),
    ("redis://", "needs a host"),
    ("redis://h:70000/0", "port must be between 1 and 65535"),
    ("redis://h:6379/zero", "the path must be a database number"),
    ("unix://", "a unix:// URL needs the socket's path"),
    ("redis://h:6379/0?socket_timeout=30", "query parameter 'socket_timeout' is not supported"),
])
def test_bad_urls_are_named_at_their_key(url: str, message: str) -> None:
    errs = errors(f"shared_state: {{redis: {{url: '{url}'}}}}\n")
    assert len(errs) == 1 and errs[0].startswith("shared_state.redis.url: ") and message in errs[0]


def test_a_bad_url_error_never_shows_the_password() -> None:
    errs = errors(f"shared_state: {{redis: {{url: 'redis://:{PASSWORD}@h:6379/nope'}}}}\n")
    assert errs == [("shared_state.redis.url: the path must be a database number (as in /0), "
                     "got 'redis://:***@h:6379/nope'")]
    errs = errors(f"shared_state: {{redis: {{url: 'htp://:{PASSWORD}@h'}}}}\n")
    assert PASSWORD not in errs[0]


def test_unknown_keys_and_bad_values_with_their_paths() -> None:
    errs = errors("""
shared_state:
  redis: {url: 'redis://h:6379/0', timeout: 10s, max_connections: 0, key_prefix: 'a b', pool: 3}
  on_unavailable: maybe
  extra: 1
""")
    assert sorted(errs) == sorted([
        "shared_state.extra: unknown key (expected one of: redis, on_unavailable)",
        "shared_state.on_unavailable: must be one of local, reject, got 'maybe'",
        "shared_state.redis.pool: unknown key (expected one of: url, key_prefix, timeout, max_connections, password)",
        "shared_state.redis.timeout: must be <= 5s: it bounds every Redis call a request waits for, got 10s",
        "shared_state.redis.max_connections: must be an integer between 1 and 256, got number 0",
        "shared_state.redis.key_prefix: must be at most 64 printable characters without spaces, got 'a b'",
    ])


def test_required_parts() -> None:
    assert errors("shared_state: {on_unavailable: local}\n") == ["shared_state.redis: is required"]
    assert errors("shared_state: {redis: {timeout: 1s}}\n") == ["shared_state.redis.url: is required"]
    assert errors("shared_state: {redis: {url: 42}}\n") == [
        "shared_state.redis.url: must be a string, got a value of type int"]
    assert errors("shared_state: {redis: {url: '${NOPE}'}}\n")[0].startswith(
        "shared_state.redis.url: environment variable NOPE is not set")


def test_a_shared_cache_needs_shared_state() -> None:
    assert errors("", shared="true") == [
        ("routes.r.cache.exact.shared: needs shared_state (a Redis to share the cache through); "
         "configure shared_state.redis.url or set shared: false")]
    # A shared_state that is there but wrong has its own errors, not this one as well.
    assert errors("shared_state: {redis: {url: 'http://x'}}\n", shared="true") == [
        ("shared_state.redis.url: must be a redis://, rediss:// or unix:// URL (e.g. redis://redis.platform:6379/0, "
         "rediss://:PASSWORD@host:6380/0 or unix:///run/redis.sock), got 'http://x'")]
    assert errors("", shared="maybe") == ["routes.r.cache.exact.shared: must be true or false, got string 'maybe'"]
