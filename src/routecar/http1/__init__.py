"""A lean HTTP/1.1 client for routecar's upstream calls: one keep-alive pool per provider."""

from .errors import ConnectError, ConnectionBroken, HttpClientError, MalformedResponse, PoolClosed
from .pool import Origin, Pool
from .response import Response

__all__ = ["ConnectError", "ConnectionBroken", "HttpClientError", "MalformedResponse", "Origin", "Pool",
           "PoolClosed", "Response"]
