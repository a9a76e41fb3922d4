"""A lean HTTP/1.1 client for routecar's upstream calls: one keep-alive pool per provider."""

from .deadline import NEVER, Deadline, DeadlineTicker
from .errors import (BodyTooLarge, ConnectError, ConnectionBroken, DeadlineExceeded, HttpClientError,
                     MalformedResponse, PoolClosed)
from .pool import Origin, Pool
from .proxy import Proxy
from .response import Response

__all__ = ["NEVER", "BodyTooLarge", "ConnectError", "ConnectionBroken", "Deadline", "DeadlineExceeded", "DeadlineTicker",
           "HttpClientError", "MalformedResponse", "Origin", "Pool", "PoolClosed", "Proxy", "Response"]
