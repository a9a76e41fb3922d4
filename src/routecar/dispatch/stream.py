"""A committed upstream stream, handed to the server by the dispatcher's outcome.

The server reads `chunks()` and writes each one to the app in its protocol; the stream itself
tracks usage and reports its end to health, whichever way it ends: the upstream finished
(success), broke or stalled after the first byte (failure, `StreamBroken` raised to the
server, which ends the app's stream with an explicit error event), or the server let go of it
because the app hung up or routecar is shutting down (neutral: not the upstream's fault).
The end is reported once, and described by an immutable `StreamEnd` for the route log.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Mapping, NamedTuple

from ..health.registry import HealthRegistry
from ..health.values import AttemptResult
from ..providers.base import Chunk
from .attempt import OpenedStream, StreamBroken
from .values import AttemptRecord

__all__ = ["LiveStream", "StreamBroken", "StreamEnd"]


class StreamEnd(NamedTuple):
    outcome: str  # route-log outcome: "ok", "stream_broken" or "client_cancelled"
    attempt: AttemptRecord  # the committed attempt, final: latency to its end, error class if any
    detail: str = ""  # why it did not end well, for the row's error_message
    usage: Mapping[str, Any] | None = None


class LiveStream:
    __slots__ = ("_opened", "_health", "_dep_id", "_probe", "_est_tokens", "_attempt", "_clock", "_started",
                 "_usage", "result")

    def __init__(self, opened: OpenedStream, health: HealthRegistry, dep_id: str, probe: bool | None,
                 est_tokens: int, attempt: AttemptRecord, clock: Callable[[], float], started: float):
        self._opened = opened
        self._health = health
        self._dep_id = dep_id
        self._probe = probe
        self._est_tokens = est_tokens
        self._attempt = attempt  # as the dispatcher recorded it when the first content arrived
        self._clock = clock
        self._started = started  # the attempt's start, on `clock`
        self._usage: Mapping[str, Any] | None = None
        self.result: StreamEnd | None = None

    @property
    def headers(self) -> Mapping[str, str]:
        return self._opened.resp.headers

    @property
    def ttft(self) -> float:
        """Seconds from the attempt's start to its first content chunk."""
        return self._opened.ttft

    async def chunks(self) -> AsyncIterator[Chunk]:
        """Every chunk, the held-back head first, one upstream event at a time. Raises
        StreamBroken when the upstream fails after the first byte."""
        try:
            for chunk in self._opened.head:
                self._note(chunk)
                yield chunk
            async for chunk in self._opened.rest():
                self._note(chunk)
                yield chunk
        except StreamBroken as exc:
            self._end("stream_broken", "failure", exc.kind,
                      f"upstream stream broke after the first byte: {exc.detail or exc.kind}")
            raise
        self._end("ok", "success", None)

    def abandon(self, outcome: str = "client_cancelled", error: str | None = None, detail: str = "") -> None:
        """The server stops reading: the app hung up (the default: the attempt itself did not
        fail, so it has no error) or routecar ends the stream (`stream_broken` with error
        `sidecar_shutdown`). Neither is the upstream's fault."""
        self._end(outcome, "neutral", error, detail)

    def _note(self, chunk: Chunk) -> None:
        usage = chunk.data.get("usage")
        if usage:
            self._usage = usage

    def _end(self, outcome: str, health_kind: str, error: str | None, detail: str = "") -> None:
        if self.result is not None:
            return
        self._opened.close()
        elapsed = self._clock() - self._started
        usage = self._usage
        attempt = self._attempt._replace(error=error, latency_ms=elapsed * 1000)
        self.result = StreamEnd(outcome, attempt, detail, usage)
        self._health.on_finish(self._dep_id, AttemptResult(
            health_kind, status=self._attempt.status, latency=elapsed, ttft=self._opened.ttft,
            headers=self.headers, tokens=_total_tokens(usage), est_tokens=self._est_tokens, probe=self._probe))


def _total_tokens(usage: Mapping[str, Any] | None) -> int | None:
    total = usage.get("total_tokens") if usage else None
    return total if isinstance(total, int) else None
