"""Process wiring for `routecar serve`: listeners, lifecycle, reload and drain.

Everything is built here, once, inside the running loop: the runtime (health, route log,
metrics, provider sessions), the data and admin applications and their sockets. Reloads
(file change or SIGHUP) parse and validate off the event loop and swap the snapshot
atomically; a bad file is refused whole and the old config keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web

from ..config.loader import ConfigError, load_config
from ..config.model import Config, Listen
from . import admin, handlers
from .keys import RUNTIME
from .runtime import Runtime

log = logging.getLogger("routecar.server")

_APP_MAX_SIZE = 2**31  # the body limit is enforced per request from the live config


def build_data_app(rt: Runtime) -> web.Application:
    app = web.Application(client_max_size=_APP_MAX_SIZE, handler_args={"max_field_size": 65536})
    app[RUNTIME] = rt
    app.router.add_post("/v1/chat/completions", handlers.chat_completions)
    app.router.add_post("/v1/embeddings", handlers.embeddings)
    app.router.add_post("/v1/messages", handlers.messages)
    app.router.add_get("/v1/models", handlers.list_models)
    return app


def build_admin_app(rt: Runtime) -> web.Application:
    app = web.Application()
    app[RUNTIME] = rt
    admin.add_routes(app)
    return app


class Sidecar:
    """A running routecar: start(), then reload()/drain(), then close()."""

    def __init__(self, config: Config, config_path: str | None = None):
        self.config_path = config_path
        self._initial = config
        self.runtime: Runtime | None = None
        self._runners: list[web.AppRunner] = []
        self._sites: list[web.TCPSite] = []
        self.data_port = 0
        self.admin_port = 0
        self._watch_task: asyncio.Task[Any] | None = None
        self._reload_lock = asyncio.Lock()
        self._file_id: tuple[Any, ...] | None = None

    @property
    def data_url(self) -> str:
        return f"http://127.0.0.1:{self.data_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    async def start(self) -> None:
        rt = Runtime(self._initial)
        self.runtime = rt
        await rt.start()
        server = self._initial.server
        self.data_port = await self._listen(build_data_app(rt), server.listen)
        self.admin_port = await self._listen(build_admin_app(rt), server.admin_listen)
        if self.config_path:
            self._file_id = _file_identity(self.config_path)
            self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _listen(self, app: web.Application, where: Listen) -> int:
        # handler_cancellation: an app that hangs up cancels its request, and with it the upstream call.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None,
                               shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, where.host, where.port, backlog=1024, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        self._sites.append(site)
        sockets = runner.addresses
        return int(sockets[-1][1]) if sockets else where.port

    async def reload(self, reason: str = "signal") -> bool:
        """Re-read the config file; True when the new one is serving."""
        if not self.config_path or self.runtime is None:
            return False
        async with self._reload_lock:
            try:
                config = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                self.runtime.metrics.config_reloaded(False, None)
                log.error("config reload refused; the previous config keeps serving",
                          extra={"reason": reason, "errors": exc.errors})
                return False
            except Exception as exc:  # unreadable mid-swap, etc.: same rule, keep serving
                self.runtime.metrics.config_reloaded(False, None)
                log.error("config reload failed; the previous config keeps serving",
                          extra={"reason": reason, "error": str(exc)})
                return False
            old = self.runtime.snapshot.config
            config = _keep_sockets(config, old)
            if config.hash == old.hash:
                return True
            self.runtime.apply(config)
            log.info("config reloaded", extra={"reason": reason, "config_hash": config.hash, "previous": old.hash})
            return True

    async def _watch(self, interval: float = 1.0) -> None:
        """Poll the file identity: catches in-place edits and ConfigMap `..data` symlink swaps."""
        while True:
            await asyncio.sleep(interval)
            assert self.config_path
            ident = await asyncio.to_thread(_file_identity, self.config_path)
            if ident != self._file_id and ident is not None:
                self._file_id = ident
                await self.reload("file changed")

    async def drain(self) -> None:
        """SIGTERM: not ready, stop accepting, let in-flight requests finish within the budget."""
        rt = self.runtime
        if rt is None or rt.draining:
            return
        rt.draining = True
        budget = rt.snapshot.config.server.drain_timeout
        log.info("draining", extra={"in_flight": rt.in_flight, "drain_timeout": budget})
        data_site = self._sites[0] if self._sites else None
        if data_site is not None:
            await data_site.stop()
        finished = await rt.wait_idle(budget)
        if not finished:
            log.warning("drain budget spent; ending the requests still open", extra={"in_flight": rt.in_flight})

    async def close(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self.runtime is not None:
            await self.runtime.close()


def _file_identity(path: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
        return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def _keep_sockets(new: Config, old: Config) -> Config:
    """Listeners cannot move without a restart: keep the bound ones, and say so."""
    if new.server.listen != old.server.listen or new.server.admin_listen != old.server.admin_listen:
        log.warning("server.listen / server.admin_listen changes need a restart; keeping the current sockets")
        return replace(new, server=replace(new.server, listen=old.server.listen,
                                           admin_listen=old.server.admin_listen))
    return new


async def serve(config: Config, config_path: str | None) -> int:
    sidecar = Sidecar(config, config_path)
    try:
        await sidecar.start()
    except OSError as exc:
        log.error("cannot listen", extra={"error": str(exc)})
        await sidecar.close()
        return 1
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(sidecar.reload("SIGHUP")))
    log.info("routecar serving", extra={"listen": f"127.0.0.1:{sidecar.data_port}" if config.server.listen.host in (
        "127.0.0.1", "localhost") else str(config.server.listen), "admin": str(config.server.admin_listen),
        "config_hash": config.hash})
    print(f"routecar listening on http://{config.server.listen.host}:{sidecar.data_port} "
          f"(admin http://{config.server.admin_listen.host}:{sidecar.admin_port})", flush=True)
    await stop.wait()
    await sidecar.drain()
    await sidecar.close()
    return 0


def run_serve(config_path: str) -> int:
    config = load_config(config_path)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep serving without it
        runner = asyncio.run
    return runner(serve(config, str(Path(config_path))))
