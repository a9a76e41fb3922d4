"""FakeProvider: run the fake upstream inside the current event loop (tests, demo, benchmarks)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from .app import create_app
from .state import STATE, FakeState

# Hung requests must not hold shutdown for aiohttp's default minute.
_SHUTDOWN_TIMEOUT_S = 0.25


class FakeProvider:
    """`async with FakeProvider(name="a", chunks=4) as fp:` serves on 127.0.0.1:fp.port.

    Keyword arguments are those of `create_app`. Faults and counters are read and switched in
    process; the same is available over HTTP under `/_fake/`.
    """

    def __init__(self, name: str = "fake", *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        self.name = name
        self.host = host
        self._want_port = port
        self.app = create_app(name=name, **kwargs)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def _state(self) -> FakeState:
        return self.app[STATE]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base(self) -> str:
        return self.url + "/v1"

    @property
    def requests(self) -> int:
        return self._state.stats.requests

    def set_faults(self, faults: dict[str, Any] | list[dict[str, Any]] | None) -> None:
        """Replace the fault set (one fault, a list, or None); invalid specs raise ValueError."""
        self._state.faults.replace(faults)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self._state.faults.describe()

    def stats(self) -> dict[str, Any]:
        return self._state.stats.snapshot()

    def reset(self) -> None:
        """Clear faults and counters, like POST /_fake/reset."""
        self._state.faults.clear()
        self._state.stats.reset()

    async def start(self) -> None:
        if self._runner is not None:
            return
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                               shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._want_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> "FakeProvider":
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"FakeProvider(name={self.name!r}, url={self.url!r})"
