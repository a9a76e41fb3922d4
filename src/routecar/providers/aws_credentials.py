"""AWS credentials for Bedrock: botocore's credential chain, refreshed in the background, and
SigV4 signing of each wire request (botocore's own signer; nothing hand-written).

The chain is botocore's standard one: AWS_* environment variables, the shared credentials and
config files, a web identity token file (EKS IRSA), container credentials (EKS Pod Identity,
ECS), the instance role. Resolving and refreshing may call STS or a metadata endpoint, so it
runs in a worker thread off the request path (credentials.BackgroundRefresh); a request only
signs with the frozen copy last fetched. Imported only when a bedrock provider is configured.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as StaticCredentials

from ..config.model import ProviderConfig
from .base import UpstreamRequest
from .credentials import BackgroundRefresh, drop_headers

SERVICE = "bedrock"
# botocore's refreshable credentials renew themselves (STS, container endpoint) 15 minutes
# before expiry when asked for a frozen copy; asking every minute keeps ours well inside that.
POLL_EVERY = 60.0
# Headers botocore's signer adds; copied back onto the wire request after signing.
_AUTH_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
_AUTH_NAMES = frozenset(name.lower() for name in _AUTH_HEADERS)


class _Frozen(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None

    def __repr__(self) -> str:  # never the secret, even in a traceback's locals
        return f"_Frozen(access_key={self.access_key!r}, secret_key=..., token=...)"


class AwsCredentials:
    """SigV4 for one Bedrock provider (`region`; static keys when the config sets them).
    `poll_every` is a seam for tests of refreshing."""

    def __init__(self, provider: ProviderConfig, poll_every: float = POLL_EVERY) -> None:
        self.region = provider.region or ""
        self._poll_every = poll_every
        self._static = None
        if provider.aws_access_key_id and provider.aws_secret_access_key:
            self._static = _Frozen(provider.aws_access_key_id, provider.aws_secret_access_key,
                                   provider.aws_session_token)
        # A reload with other static keys makes new credentials; only a digest of them is kept
        # here, so the identity can never print a secret.
        digest = None
        if self._static is not None:
            digest = hashlib.sha256("\0".join(k or "" for k in self._static).encode()).hexdigest()
        self.identity = ("aws", self.region, digest)
        self._source: Any = None  # botocore's credentials object, reused so it refreshes itself
        self._refresh: BackgroundRefresh[_Frozen] = BackgroundRefresh(provider.name, self._fetch,
                                                                     min_delay=min(poll_every, 1.0))

    async def start(self) -> None:
        # (botocore's signer logs the canonical request, session token included, at DEBUG on
        # its own logger; routecar's log set-up only ever writes the `routecar` hierarchy.)
        await self._refresh.start()

    async def close(self) -> None:
        await self._refresh.close()

    def _fetch(self) -> tuple[_Frozen, float]:
        """Blocking: in a worker thread only."""
        if self._static is not None:
            return self._static, 24 * 3600.0  # nothing to refresh
        if self._source is None:
            self._source = botocore.session.get_session().get_credentials()
        if self._source is None:
            raise LookupError("no AWS credentials found (environment, shared files, web identity, container, "
                              "instance role)")
        frozen = self._source.get_frozen_credentials()
        return _Frozen(frozen.access_key, frozen.secret_key, frozen.token), self._poll_every

    def apply(self, wire: UpstreamRequest) -> None:
        frozen = self._refresh.current()
        drop_headers(wire.headers, _AUTH_NAMES)
        request = AWSRequest(method=wire.method, url=wire.url, data=wire.body, headers=wire.headers)
        SigV4Auth(StaticCredentials(*frozen), SERVICE, self.region).add_auth(request)
        for name in _AUTH_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                wire.headers[name.lower()] = value
