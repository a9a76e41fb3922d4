"""SIGINT and SIGTERM for the long-running commands (`logs -f`, `demo`, `fake-provider`).

A shell starts a background job (`routecar logs -f &`, or any command of a script run with
`&`) with SIGINT *ignored*, and Python then never installs its KeyboardInterrupt handler: such a
process ignores Ctrl-C and `kill -INT`, and one started by a test outlives it. So these commands
install their own handlers, whatever the process inherited. SIGTERM (what `kill`, systemd and
test teardowns send) ends them the same way instead of killing them mid-write.

Only `signal` is imported here: `routecar serve` imports this module's caller (cli.py) too.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so every `except KeyboardInterrupt` that
    already ends a command cleanly on Ctrl-C ends it the same way on SIGTERM."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum: int, frame: Any) -> None:
    raise StopRequested(signum)


def raise_on_stop_signals() -> dict[int, Any]:
    """From now on SIGINT and SIGTERM raise StopRequested in the main thread; returns the
    handlers they replace. A no-op outside the main thread, where handlers cannot be set."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _raise_stop) for sig in STOP_SIGNALS}


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """`raise_on_stop_signals()` for the length of a `with` block, then the old handlers back
    (so a command run in-process, by a test, leaves the interpreter as it found it)."""
    previous = raise_on_stop_signals()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def on_stop_signals(loop: asyncio.AbstractEventLoop, callback: Callable[[int], None]) -> Callable[[], None]:
    """For asyncio commands: `callback(signum)` runs in the loop on SIGINT or SIGTERM (replacing
    any inherited SIG_IGN). Returns the function that removes the handlers again."""
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, callback, int(sig))

    def remove() -> None:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    return remove
