"""The egress proxy the environment names for an upstream: HTTPS_PROXY / HTTP_PROXY / NO_PROXY.

Read once per config load (and reload), never per request: the result is part of the frozen
provider config, so the pool of a provider changes only when its proxy does.

The rules are curl's: the lower-case variable wins over the upper-case one; `https_proxy` is
for https:// upstreams and `http_proxy` for http:// ones; NO_PROXY is a list (commas or
spaces) of host names, each matching the host and every subdomain (a leading dot or `*.` is
ignored), IP addresses and CIDR blocks (`10.0.0.0/8`, matched against an upstream given by
address), an optional `:port` restricting an entry to one port, and `*` alone for every host.
Loopback is not special: list `localhost,127.0.0.1` in NO_PROXY for local upstreams.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Mapping

_SEPARATORS = re.compile(r"[,\s]+")
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_variable(scheme: str, host: str, port: int, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(variable name, proxy URL) the environment sets for an upstream, or None: no proxy
    variable for the scheme, or NO_PROXY bypasses the host."""
    names = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    found = _first(env, names)
    if found is None:
        return None
    no_proxy = _first(env, ("no_proxy", "NO_PROXY"))
    if no_proxy is not None and bypasses(no_proxy[1], host, port):
        return None
    return found


def _first(env: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = (env.get(name) or "").strip()
        if value:
            return name, value
    return None


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether the NO_PROXY list `no_proxy` exempts `host:port` from the proxy."""
    host = host.strip("[]").rstrip(".").lower()
    address = _address(host)
    for raw in _SEPARATORS.split(no_proxy.strip()):
        if not raw:
            continue
        if raw == "*":
            return True
        entry, entry_port = _split_port(raw.lower())
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            network = _network(entry)
            if network is not None and address in network:
                return True
            continue
        name = entry.removeprefix("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port`, `[v6]:port`, a bare IPv6 address (several colons, no port) or a name."""
    if entry.startswith("["):
        addr, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return addr, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _network(entry: str) -> _Network | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
