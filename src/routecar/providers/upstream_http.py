"""The HTTP side of the requests adapters build, and of the error bodies upstreams answer with.

Pure: URLs, headers and error text only; the dispatcher owns the network.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..config.model import ProviderConfig
from .base import UpstreamRequest

# Upstream error text is echoed to apps; cap it so a provider's HTML error page stays readable.
MAX_ERROR_TEXT = 500


def join_url(base_url: str, version: str, path: str) -> str:
    """`base_url` with or without a trailing `/{version}` (or slash) joined to `/{version}{path}`."""
    base = base_url.rstrip("/")
    if base.endswith("/" + version):
        base = base[: -len(version) - 1]
    return f"{base}/{version}{path}"


def json_headers(provider: ProviderConfig, auth: dict[str, str]) -> dict[str, str]:
    """A JSON request's headers: the provider's own, then `auth` when the provider has a key
    (a keyless local server must not get an empty key header)."""
    headers = {"content-type": "application/json"}
    headers.update(provider.headers)
    if provider.api_key:
        headers.update(auth)
    return headers


def get_request(url: str, headers: dict[str, str]) -> UpstreamRequest:
    """A GET (active health checks list the provider's models) from JSON request headers."""
    del headers["content-type"]  # a GET without a body
    return UpstreamRequest(url, headers, b"", method="GET")


def error_member(payload: bytes) -> Any:
    """The `error` member of a JSON error body, or None (Google may wrap the body in a list)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(data, list) and data:
        data = data[0]
    return data.get("error") if isinstance(data, dict) else None


def read_error(status: int, payload: bytes) -> tuple[dict[str, Any] | None, str]:
    """(the body's `error` object, None when it has none; the message to show for it)."""
    err = error_member(payload)
    if isinstance(err, dict):
        return err, str(err.get("message") or error_text(status, b""))
    return None, error_text(status, payload)


def error_text(status: int, payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


def status_error_type(status: int) -> str:
    """The canonical error type for a status when the body does not say."""
    if status == 429:
        return "rate_limit_error"
    return "api_error" if status >= 500 else "invalid_request_error"


def mentions(text: str, markers: tuple[str, ...]) -> bool:
    """Whether an error message says one of `markers` (each protocol words "too long" its own way)."""
    lowered = text.lower()
    return any(marker in lowered for marker in markers)
