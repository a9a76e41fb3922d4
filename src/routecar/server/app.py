"""Process wiring for `routecar serve`: listeners, lifecycle, reload and drain.

Everything is built here, once, inside the running loop: the runtime (health, route log,
metrics, provider sessions), the data and admin applications and their sockets. Reloads
(file change or SIGHUP) parse and validate off the event loop and swap the generation
atomically; a bad file is refused whole and the old config keeps serving.

SIGTERM drains: /readyz turns 503, the data socket stops accepting, idle keep-alive
connections close, in-flight answers get `server.drain_timeout` to finish, then streams still
open are ended with their protocol's error event; the route log is flushed and the process
exits 0. A second SIGTERM/SIGINT cuts the wait short.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config.loader import ConfigError, load_config
from ..config.model import Config
from ..http1.server import Request, Server
from ..redaction import Redactor
from . import admin, count_tokens, endpoints
from .keys import RUNTIME
from .request_parsing import request_id_of
from .runtime import Runtime

log = logging.getLogger("routecar.server")

# After the drain budget, streams told to stop get this long to write their error event.
_END_GRACE_S = 1.0
# The servers' last wait for busy sockets, used only after drain() (answers already finished or ended).
_FINAL_CUT_S = 0.5
# An edit in place is read once the file has stopped changing for one such pause.
_SETTLE_S = 0.1
_SETTLE_TRIES = 20


def build_data_server(rt: Runtime) -> Server:
    """The data port (http1.server, not aiohttp: it is the request path). While draining,
    every answer says `Connection: close`, so the app's next request opens a connection
    elsewhere. Bodies are read up to the live config's limit, whatever reloads happen."""
    return Server(
        {
            "/v1/chat/completions": {"POST": endpoints.chat_completions},
            "/v1/embeddings": {"POST": endpoints.embeddings},
            "/v1/messages": {"POST": endpoints.messages},
            "/v1/messages/count_tokens": {"POST": count_tokens.count_tokens},
            "/v1/responses": {"POST": endpoints.responses},
            "/v1/models": {"GET": endpoints.list_models},
            "/v1/models/*": {"GET": endpoints.retrieve_model},
        },
        app={RUNTIME: rt},
        max_body=lambda: rt.generation.config.server.max_body_bytes,
        closing=lambda: rt.draining,
        own_answer_headers=_request_id_header,
    )


def _request_id_header(request: Request | None) -> dict[str, str]:
    """Every answer carries x-routecar-request-id (docs/http-api.md), the ones the HTTP server makes
    itself (404, 405, refusals) too: the app's id when safe to echo, else a fresh one."""
    given = request.headers.get("x-routecar-request-id") if request is not None else None
    return {"x-routecar-request-id": request_id_of(given)}


def build_admin_server(rt: Runtime) -> Server:
    """The admin port: probes, metrics and state, answered from memory. It never drains (probes
    must see 503 from /readyz, not a refusal) and takes no bodies."""
    return Server(admin.ROUTES, app={RUNTIME: rt}, max_body=lambda: 0)


class Sidecar:
    """A running routecar: start(), then reload()/drain(), then close()."""

    def __init__(self, config: Config, config_path: str | None = None, watch_interval: float = 1.0,
                 redactor: Redactor | None = None, **runtime_seams: Any):
        """`runtime_seams`: the Runtime's clock, rng, sleep and background_checks, for tests."""
        self.config_path = config_path
        self._initial = config
        # The process's one Redactor (the CLI's, shared with its log handler); a fresh one when
        # none is given (tests, embedding).
        self.redactor = redactor if redactor is not None else Redactor()
        self._seams = runtime_seams
        self.runtime: Runtime | None = None
        self._data_server: Server | None = None
        self._admin_server: Server | None = None
        self.data_port = 0
        self.admin_port = 0
        self._watch_interval = watch_interval
        self._watch_task: asyncio.Task[Any] | None = None
        self._reload_lock = asyncio.Lock()
        self._file_id: tuple[Any, ...] | None = None
        self._hurry = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def data_url(self) -> str:
        return f"http://127.0.0.1:{self.data_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    async def start(self) -> None:
        rt = Runtime(self._initial, redactor=self.redactor, **self._seams)
        self.runtime = rt
        await rt.start()
        server = self._initial.server
        if self.config_path:
            # Taken before serving: an edit from here on is a change to pick up.
            self._file_id = await asyncio.to_thread(_file_identity, self.config_path)
        self._data_server = build_data_server(rt)
        self.data_port = await self._data_server.listen(server.listen.host, server.listen.port)
        self._admin_server = build_admin_server(rt)
        self.admin_port = await self._admin_server.listen(server.admin_listen.host, server.admin_listen.port)
        if self.config_path:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch(), name="routecar-config-watch")

    # -- reload ------------------------------------------------------------------------------

    def reload_soon(self, reason: str) -> None:
        """Schedule a reload from a signal handler (which cannot await)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self, reason: str = "signal") -> bool:
        """Re-read the config file; True when the new one is serving."""
        if not self.config_path or self.runtime is None:
            return False
        async with self._reload_lock:
            rt = self.runtime
            try:
                config = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as exc:
                return self._refused(reason, "config reload refused; the previous config keeps serving",
                                     {"errors": exc.errors})
            except Exception as exc:  # unreadable mid-swap, etc.: same rule, keep serving
                return self._refused(reason, "config reload failed; the previous config keeps serving",
                                     {"error": str(exc)})
            old = rt.generation.config
            config = _keep_sockets(config, old)
            if config.hash == old.hash:
                return True
            try:
                rt.apply(config)
            except Exception as exc:  # a config the loader passed but the router could not build
                log.exception("config reload failed while building it; the previous config keeps serving")
                return self._refused(reason, "config reload failed", {"error": str(exc)})
            log.info("config reloaded", extra={"reason": reason, "config_hash": config.hash, "previous": old.hash})
            return True

    def _refused(self, reason: str, message: str, detail: dict[str, Any]) -> bool:
        assert self.runtime is not None
        self.runtime.metrics.config_reloaded(False, None)
        log.error(message, extra={"reason": reason, **detail})
        return False

    async def _watch(self) -> None:
        """Poll the file identity: catches in-place edits and ConfigMap `..data` symlink swaps."""
        assert self.config_path
        path = self.config_path
        while True:
            await asyncio.sleep(self._watch_interval)
            try:
                ident = await asyncio.to_thread(_file_identity, path)
                if ident is None or ident == self._file_id:
                    continue  # unchanged, or missing for a moment mid-swap
                self._file_id = await self._settled(path, ident)
                await self.reload("file changed")
            except asyncio.CancelledError:
                raise
            except Exception:  # the watcher must outlive any one bad poll
                log.exception("config watcher: poll failed; still watching")

    async def _settled(self, path: str, ident: tuple[Any, ...]) -> tuple[Any, ...]:
        """Wait until an edit in place stops changing the file, so a half-written file is not read."""
        pause = min(self._watch_interval, _SETTLE_S)
        for _ in range(_SETTLE_TRIES):
            await asyncio.sleep(pause)
            again = await asyncio.to_thread(_file_identity, path)
            if again == ident or again is None:
                return ident
            ident = again
        return ident

    # -- drain and close ---------------------------------------------------------------------

    def hurry(self) -> None:
        """A second SIGTERM/SIGINT: stop waiting for in-flight work and end open streams now."""
        self._hurry.set()

    async def drain(self) -> None:
        """SIGTERM: not ready, refuse new connections, let in-flight requests finish within
        `server.drain_timeout`, then end the streams still open with their error event."""
        rt = self.runtime
        if rt is None or rt.draining:
            return
        rt.draining = True  # /readyz answers 503 from now on
        budget = rt.generation.config.server.drain_timeout
        log.info("draining", extra={"in_flight": rt.in_flight, "open_streams": rt.open_streams,
                                    "drain_timeout": budget})
        if self._data_server is not None:
            self._data_server.stop_listening()  # new connections are refused
            # Idle keep-alive connections close now, busy ones after their answer, so the
            # app's next request opens a connection elsewhere instead of landing here.
            self._data_server.close_idle()
        if await self._wait_idle(rt, budget):
            log.info("drained", extra={"in_flight": 0})
            return
        told = rt.end_streams(f"routecar shut down: the drain budget ({budget:g}s) ran out before the stream "
                              "finished")
        log.warning("drain budget spent; ending the streams still open",
                    extra={"in_flight": rt.in_flight, "streams_ended": told})
        if not await rt.wait_idle(_END_GRACE_S):
            log.warning("requests still open after the drain; they are cut", extra={"in_flight": rt.in_flight})

    async def _wait_idle(self, rt: Runtime, budget: float) -> bool:
        idle = asyncio.ensure_future(rt.wait_idle(budget))
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait((idle, hurry), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (idle, hurry):
                task.cancel()
            await asyncio.gather(idle, hurry, return_exceptions=True)
        return idle.done() and not idle.cancelled() and idle.result()

    async def close(self) -> None:
        """Stop everything; the admin plane last, so probes see 503 (not a refusal) to the end."""
        if self._watch_task:
            self._watch_task.cancel()
            await asyncio.gather(self._watch_task, return_exceptions=True)
            self._watch_task = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._data_server is not None:
            await self._data_server.shutdown(_FINAL_CUT_S)
            self._data_server = None
        if self.runtime is not None:
            await self.runtime.close()  # writes every queued route-log row
        if self._admin_server is not None:
            await self._admin_server.shutdown(_FINAL_CUT_S)
            self._admin_server = None


def _file_identity(path: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(path)
        return (os.path.realpath(path), st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def _keep_sockets(new: Config, old: Config) -> Config:
    """What is built once at start cannot change on a reload: the listeners, the route-log
    writer (its file, batching and retention) and the telemetry exporter. Keep the running
    ones, say so, and let the config in effect (and /state) show what really runs."""
    if new.server.listen != old.server.listen or new.server.admin_listen != old.server.admin_listen:
        log.warning("server.listen / server.admin_listen changes need a restart; keeping the current sockets")
        new = replace(new, server=replace(new.server, listen=old.server.listen,
                                          admin_listen=old.server.admin_listen))
    # Prompts are captured per request from the live config, stored only if the writer was
    # started with record_prompts: turning it off applies at once, turning it on at a restart.
    kept_log = replace(old.route_log, record_prompts=old.route_log.record_prompts and new.route_log.record_prompts)
    if new.route_log != kept_log:
        log.warning("route_log changes (path, batching, retention, turning record_prompts on) need a restart; "
                    "keeping the current writer")
        new = replace(new, route_log=kept_log)
    if new.telemetry != old.telemetry:
        log.warning("telemetry changes need a restart; keeping the current exporter")
        new = replace(new, telemetry=old.telemetry)
    return new


def _tune_gc() -> None:
    """Everything built at start-up lives as long as the process: move it out of the
    collector's sight, and collect the young generation less often. Under load the default
    threshold (700) spent ~10% of the loop's CPU re-scanning long-lived objects (py-spy,
    benchmarks/bench_gc.py); request garbage is mostly acyclic and freed by refcounting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


async def serve(config: Config, config_path: str | None, redactor: Redactor | None = None) -> int:
    sidecar = Sidecar(config, config_path, redactor=redactor)
    try:
        await sidecar.start()
    except OSError as exc:
        log.error("cannot listen", extra={"error": str(exc)})
        await sidecar.close()
        return 1
    _tune_gc()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stop() -> None:
        if stop.is_set():
            sidecar.hurry()  # a second signal: cut the drain short
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_stop)
    loop.add_signal_handler(signal.SIGINT, on_stop)
    loop.add_signal_handler(signal.SIGHUP, sidecar.reload_soon, "SIGHUP")
    log.info("routecar serving", extra={"listen": f"{config.server.listen.host}:{sidecar.data_port}",
                                        "admin": f"{config.server.admin_listen.host}:{sidecar.admin_port}",
                                        "config_hash": config.hash})
    print(f"routecar listening on http://{config.server.listen.host}:{sidecar.data_port} "
          f"(admin http://{config.server.admin_listen.host}:{sidecar.admin_port})", flush=True)
    await stop.wait()
    await sidecar.drain()
    await sidecar.close()
    log.info("routecar stopped")
    return 0


def run_serve(config_path: str, config: Config | None = None, *, redactor: Redactor | None = None) -> int:
    """Serve until SIGTERM/SIGINT. `config` is `config_path` already loaded (the CLI validates
    it before logging starts), so start-up does not parse the file twice; `redactor` is the one
    the CLI's log handler scrubs with."""
    if config is None:
        config = load_config(config_path)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency; keep serving without it
        runner = asyncio.run
    return runner(serve(config, str(Path(config_path)), redactor))
