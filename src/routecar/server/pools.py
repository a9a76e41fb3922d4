"""One keep-alive connection pool per provider, created at start and on reload, never per
request. A reload reuses the pools whose shape did not change (keys and headers travel per
request); the pools it retires close once no request on an older config still uses them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from ..config.egress_section import client_context
from ..config.model import Config, ProviderConfig
from ..http1 import Pool, Proxy

# Server-side keep-alive is usually 60 s or more: closing first means we never write into a
# socket the provider is closing.
KEEPALIVE_S = 30.0


def _pool_key(provider: ProviderConfig) -> tuple[Any, ...]:
    # How connections are opened is part of the shape: a reload that changes the proxy or the
    # TLS files (TlsConfig.digest hashes their contents) builds a new pool; one that does not
    # keeps the warm sockets. ProxyConfig compares its credentials too.
    return (provider.base_url, provider.max_connections, provider.proxy, provider.tls)


def _proxy(provider: ProviderConfig) -> Proxy | None:
    p = provider.proxy
    return None if p is None else Proxy.basic(p.host, p.port, p.username, p.password)


_Entry = tuple[tuple[Any, ...], Pool]


@dataclass
class PoolChange:
    """The pools a config needs, prepared but not yet in use."""

    pools: dict[str, _Entry]
    created: list[Pool] = field(default_factory=list)
    retired: list[Pool] = field(default_factory=list)

    def mapping(self) -> dict[str, Pool]:
        return {name: pool for name, (_, pool) in self.pools.items()}


class ProviderPools:
    def __init__(self) -> None:
        self._pools: dict[str, _Entry] = {}
        self._tls: ssl.SSLContext | None = None

    def _verifying_context(self) -> ssl.SSLContext:
        """One verifying TLS context for every https provider: loading the CA store is the
        costly part (tens of ms and MBs), so it happens once, whatever the number of providers."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _context(self, provider: ProviderConfig) -> ssl.SSLContext | None:
        if not provider.base_url.startswith("https:"):
            return None
        if provider.tls is None:
            return self._verifying_context()
        # Its own CA bundle or client certificate: a context of its own (the files were
        # checked at load; one removed since makes the reload fail, naming the key).
        return client_context(provider.tls)

    def prepare(self, config: Config) -> PoolChange:
        """The pools `config` needs, reusing the unchanged ones; nothing changes until commit()."""
        change = PoolChange(pools={})
        for name, provider in config.providers.items():
            key = _pool_key(provider)
            current = self._pools.get(name)
            if current is None or current[0] != key:
                current = (key, Pool(provider.base_url, max_connections=provider.max_connections,
                                     keepalive=KEEPALIVE_S, ssl_context=self._context(provider),
                                     proxy=_proxy(provider)))
                change.created.append(current[1])
            change.pools[name] = current
        kept = {id(pool) for _, pool in change.pools.values()}
        change.retired = [p for _, p in self._pools.values() if id(p) not in kept]
        return change

    def commit(self, change: PoolChange) -> None:
        self._pools = dict(change.pools)

    def get(self, name: str) -> Pool | None:
        entry = self._pools.get(name)
        return None if entry is None else entry[1]

    async def close(self) -> None:
        for _, pool in self._pools.values():
            await pool.close()
        self._pools.clear()
