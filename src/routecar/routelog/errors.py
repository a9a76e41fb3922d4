"""Errors of the route log, for its writer and its readers alike."""

from __future__ import annotations


class RouteLogError(Exception):
    """The route log cannot be opened, written or read as asked; the message says why."""


class RouteLogMissing(RouteLogError):
    """The route log file does not exist (wrong --db, or the sidecar never wrote it)."""
