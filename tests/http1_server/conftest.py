"""A real data-port Server per test, on a free loopback port, torn down after it."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable

import pytest

from routecar.http1.server import OwnAnswerHeaders, Server

from .wire import Routes, ServeFactory, Served


@pytest.fixture
async def serve() -> AsyncIterator[ServeFactory]:
    started: list[Served] = []

    async def make(routes: Routes, *, max_body: int = 1 << 20, closing: Callable[[], bool] = lambda: False,
                   keepalive: float = 75.0, app: Any = None, own_answer_headers: OwnAnswerHeaders | None = None
                   ) -> Served:
        server = Server(routes, app if app is not None else {}, lambda: max_body, closing, keepalive,
                        own_answer_headers)
        served = Served(server, await server.listen("127.0.0.1", 0))
        started.append(served)
        return served

    yield make
    for served in started:
        served.close_clients()
        await served.server.shutdown(0)
