"""Prometheus metrics (`Metrics`) and structured JSON logging (`setup_logging`)."""

from routecar.observability.jsonlog import (
    dropped_log_records,
    log_request,
    redact,
    register_secret,
    setup_logging,
    shutdown_logging,
)
from routecar.observability.metrics import Metrics

__all__ = [
    "Metrics",
    "dropped_log_records",
    "log_request",
    "redact",
    "register_secret",
    "setup_logging",
    "shutdown_logging",
]
