"""Child processes in tests: started so that none outlives its test, whatever happens.

Teardown kills a child that is still running (after the test's own, gentler stop had its
chance) and reaps it, so neither an orphan nor a zombie is left behind; and the child is asked
by the kernel to die with the test process (PR_SET_PDEATHSIG), so not even a pytest killed
with SIGKILL leaves one running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, AsyncIterator, Iterator, Sequence

REAP_TIMEOUT_S = 10.0
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A preexec_fn: SIGKILL this child when the process that started it dies (Linux only)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def ignore_sigint_and_die_with_parent() -> None:
    """How a shell starts a background job (`cmd &`): SIGINT ignored, inherited through exec."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


@contextlib.contextmanager
def child(argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """`subprocess.Popen(argv)` for the length of a `with` block; killed and reaped at its end."""
    popen.setdefault("preexec_fn", die_with_parent)
    proc = subprocess.Popen(list(argv), **popen)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=REAP_TIMEOUT_S)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@contextlib.asynccontextmanager
async def async_child(*argv: str, **kw: Any) -> AsyncIterator[asyncio.subprocess.Process]:
    """`asyncio.create_subprocess_exec(*argv)` for an `async with` block; killed and reaped at
    its end, so a test that fails (or times out) mid-way leaves nothing running."""
    kw.setdefault("preexec_fn", die_with_parent)
    proc = await asyncio.create_subprocess_exec(*argv, **kw)
    try:
        yield proc
    finally:
        await reap(proc)


async def reap(proc: asyncio.subprocess.Process) -> None:
    """Kills `proc` if it still runs, and waits for it (bounded)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await asyncio.wait_for(proc.wait(), REAP_TIMEOUT_S)


class LineReader:
    """A child's output stream read on a thread, so a test waits for a line with a bound
    (a blocking readline would wait forever on a child that went quiet)."""

    def __init__(self, stream: Any) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.put(raw.decode(errors="replace"))

    def expect(self, needle: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if needle in line:
                return line
        raise AssertionError(f"{needle!r} never printed; got {self.seen!r}")

    def rest(self) -> str:
        """What arrived and was not read yet (call once the child has exited)."""
        out = []
        while True:
            try:
                out.append(self._lines.get(timeout=0.5))
            except queue.Empty:
                return "".join(out)
