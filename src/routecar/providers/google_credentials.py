"""Google OAuth2 access tokens for Vertex AI, refreshed in the background (google-auth).

From the provider's `credentials_file` (a service-account JSON key) or else the application
default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, GKE Workload
Identity through the metadata server). Refreshing calls a token endpoint with blocking HTTP,
so it runs in a worker thread off the request path (credentials.BackgroundRefresh) a few
minutes before the token expires; a request only reads the cached token. Imported only when a
vertex provider is configured.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Callable

import google.auth
import google.auth.transport.requests
from google.oauth2 import service_account

from ..config.model import ProviderConfig
from .base import UpstreamRequest
from .credentials import BackgroundRefresh, NoCredentials, drop_headers

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Renew this long before expiry (tokens live an hour), and look again at least this often.
REFRESH_AHEAD = 300.0
MAX_WAIT = 600.0
MIN_WAIT = 5.0
# Bound on each HTTP call google-auth makes to refresh (its default is 120 s).
HTTP_TIMEOUT = 15.0
_AUTH_NAMES = frozenset({"authorization"})


class _TimedRequest:
    """google-auth's requests transport with our timeout on every call."""

    def __init__(self) -> None:
        self._request = google.auth.transport.requests.Request()

    def __call__(self, url: str, method: str = "GET", body: Any = None, headers: Any = None,
                 timeout: float | None = None, **kwargs: Any) -> Any:
        return self._request(url, method=method, body=body, headers=headers,
                             timeout=min(timeout or HTTP_TIMEOUT, HTTP_TIMEOUT), **kwargs)


class GoogleCredentials:
    """`Authorization: Bearer` for one Vertex provider. `clock` (Unix seconds), `refresh_ahead`
    and `min_wait` are seams for tests of expiry and refreshing."""

    def __init__(self, provider: ProviderConfig, clock: Callable[[], float] = time.time,
                 refresh_ahead: float = REFRESH_AHEAD, min_wait: float = MIN_WAIT) -> None:
        self._clock = clock
        self._ahead = refresh_ahead
        self._min_wait = min_wait
        self._file = provider.credentials_file
        self.identity = ("google", self._file)
        self._source: Any = None  # google-auth's credentials object, built in the thread
        self._request: _TimedRequest | None = None
        # (token, its expiry as a Unix time or None); a token past expiry is never sent.
        self._refresh: BackgroundRefresh[tuple[str, float | None]] = BackgroundRefresh(
            provider.name, self._fetch, min_delay=min(min_wait, 1.0))

    async def start(self) -> None:
        await self._refresh.start()

    async def close(self) -> None:
        await self._refresh.close()

    def _fetch(self) -> tuple[tuple[str, float | None], float]:
        """Blocking: in a worker thread only. ((token, expiry), seconds until the next look)."""
        if self._source is None:
            if self._file:
                self._source = service_account.Credentials.from_service_account_file(self._file, scopes=SCOPES)
            else:
                self._source, _ = google.auth.default(scopes=SCOPES)
            self._request = _TimedRequest()
        source = self._source
        left = _seconds_left(source.expiry)
        if not source.token or (left is not None and left <= self._ahead):
            source.refresh(self._request)
            left = _seconds_left(source.expiry)
        if not source.token:
            raise LookupError("google-auth returned no access token")
        wait = MAX_WAIT if left is None else min(MAX_WAIT, left - self._ahead)
        expires = None if left is None else self._clock() + left
        return (str(source.token), expires), max(wait, self._min_wait)

    def apply(self, wire: UpstreamRequest) -> None:
        token, expires = self._refresh.current()
        if expires is not None and self._clock() >= expires:
            raise NoCredentials("the Google access token expired and could not be refreshed"
                                + (f" ({self._refresh.error})" if self._refresh.error else ""))
        drop_headers(wire.headers, _AUTH_NAMES)
        wire.headers["authorization"] = "Bearer " + token


def _seconds_left(expiry: datetime.datetime | None) -> float | None:
    """google-auth keeps `expiry` as a naive UTC datetime (None: does not expire)."""
    if expiry is None:
        return None
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return (expiry - now).total_seconds()
