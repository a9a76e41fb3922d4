"""The answers streaming right now, so a drain whose budget runs out can end each one with
its protocol's error event instead of cutting the socket."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, eq=False)
class OpenStream:
    """A stream being written to the app; `stop_reason` is set when routecar ends it early."""

    task: asyncio.Task[Any]
    stop_reason: str | None = None


class OpenStreams:
    def __init__(self) -> None:
        self._streams: set[OpenStream] = set()

    def stream_opened(self) -> OpenStream | None:
        """Register the current task's stream so a drain can end it; None outside a task."""
        task = asyncio.current_task()
        if task is None:
            return None
        handle = OpenStream(task)
        self._streams.add(handle)
        return handle

    def stream_closed(self, handle: OpenStream) -> None:
        self._streams.discard(handle)

    def __len__(self) -> int:
        return len(self._streams)

    def end_all(self, reason: str) -> int:
        """Tell every open stream to stop now; returns how many were told.

        The stream's task is cancelled with `stop_reason` set first, so the per-chunk path pays
        nothing for this; the stream tells it from the app hanging up by that reason, writes its
        protocol's error event and ends.
        """
        told = 0
        for handle in list(self._streams):
            if handle.stop_reason is None and not handle.task.done():
                handle.stop_reason = reason
                handle.task.cancel(reason)
                told += 1
        return told
