"""What can go wrong talking HTTP/1.1 to an upstream, in the terms the dispatcher acts on."""

from __future__ import annotations


class HttpClientError(Exception):
    """Base of every error the lean upstream client raises."""


class ConnectError(HttpClientError):
    """No connection: refused, unreachable, DNS, TLS handshake, or the connect timeout."""

    def __init__(self, detail: str, timeout: bool = False):
        super().__init__(detail)
        self.timeout = timeout


class ConnectionBroken(HttpClientError):
    """The connection closed (or was reset) before the response was complete."""


class MalformedResponse(HttpClientError):
    """The upstream's bytes are not valid HTTP/1.1 (status line, headers, framing, encoding)."""


class PoolClosed(HttpClientError):
    """The provider's pool was closed (config reload retired it, or shutdown)."""


class DeadlineExceeded(HttpClientError):
    """The exchange's deadline passed while it waited (or before it could wait)."""


class BodyTooLarge(MalformedResponse):
    """The answer (after decompression) is over the size the caller allowed."""
