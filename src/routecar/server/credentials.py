"""Cloud providers' credentials (providers/credentials.py), one per provider, made at start and
on reload like the pools: a reload keeps the live credentials (and their cached value) of a
provider whose auth settings did not change, starts new ones in the background, and closes
the ones it retired (their last value stays usable by requests still running on the old
config; only their refreshing stops).
"""

from __future__ import annotations

from typing import Mapping

from ..config.model import Config
from ..providers.credentials import Credentials
from ..providers.registry import credentials_for


class CredentialChange:
    """The credentials a config needs, prepared but not yet in use."""

    __slots__ = ("mapping", "created", "retired")

    def __init__(self, mapping: dict[str, Credentials], created: list[Credentials], retired: list[Credentials]):
        self.mapping = mapping
        self.created = created  # to start
        self.retired = retired  # to close


class ProviderCredentials:
    def __init__(self) -> None:
        self._live: dict[str, Credentials] = {}

    def prepare(self, config: Config) -> CredentialChange:
        """What `config` needs, reusing unchanged credentials; no I/O, nothing started."""
        mapping: dict[str, Credentials] = {}
        created: list[Credentials] = []
        for name, provider in config.providers.items():
            fresh = credentials_for(provider)
            if fresh is None:
                continue
            current = self._live.get(name)
            if current is not None and current.identity == fresh.identity:
                fresh = current
            else:
                created.append(fresh)
            mapping[name] = fresh
        kept = {id(c) for c in mapping.values()}
        retired = [c for c in self._live.values() if id(c) not in kept]
        return CredentialChange(mapping, created, retired)

    def commit(self, change: CredentialChange) -> None:
        self._live = dict(change.mapping)

    def get(self, name: str) -> Credentials | None:
        return self._live.get(name)

    @property
    def live(self) -> Mapping[str, Credentials]:
        return self._live

    async def close(self) -> None:
        for creds in self._live.values():
            await creds.close()
        self._live.clear()
