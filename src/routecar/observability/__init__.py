"""Prometheus metrics (`Metrics`), structured JSON logging (`setup_logging`) and secret
scrubbing (`redact`, `register_secret`).

Names are resolved on first use: the route-log CLI needs only `redact`, and should not pay
for importing prometheus-client (about 40 ms) on every `routecar logs`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_HOMES = {
    "Metrics": "metrics",
    "dropped_log_records": "jsonlog",
    "log_request": "jsonlog",
    "setup_logging": "jsonlog",
    "shutdown_logging": "jsonlog",
    "redact": "scrub",
    "register_secret": "scrub",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
