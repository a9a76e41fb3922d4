"""Structured JSON logs: one object per line, written off the event loop, secrets scrubbed.

Request handlers only enqueue: a `QueueHandler` on the `routecar` logger puts records on a
bounded queue and one writer thread (`JsonLogWriter`) serializes (orjson) and writes them, so
a slow or blocked stdout (a full pipe, a stalled log shipper) never stalls the event loop. When
the queue is full, records are dropped and counted rather than blocking a request.

Each line: `ts` (ISO-8601 UTC), `level`, `logger`, `msg`, every `extra={...}` field, and `exc`
(the formatted traceback as one string) when an exception is logged.

Redaction (routecar.redaction) is defence in depth: API keys should never reach a log call at
all, but anything shaped like a key or equal to a secret registered with the process's
`Redactor` (the one `setup_logging` is given) is replaced in messages and extra fields, on the
writer thread, before the line is written.

What is installed lives on the `routecar` logger itself (the handler knows its writer thread),
not in this module: `shutdown_logging` finds it there.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler
from typing import IO, Any

import orjson

from routecar.redaction import Redactor
from routecar.routelog.record import RouteRecord

__all__ = ["JsonLogWriter", "dropped_log_records", "log_request", "parse_level", "setup_logging",
           "shutdown_logging"]

ROOT_LOGGER = "routecar"
# Enough to ride out a burst while stdout is slow, small enough to bound memory.
QUEUE_SIZE = 10_000
# How long shutdown waits for the writer thread to drain before giving up on a stuck stream.
STOP_TIMEOUT = 5.0

_PAYLOAD_ATTR = "routecar_payload"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", _PAYLOAD_ATTR}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
_EXC_FORMATTER = logging.Formatter()
_STOP = object()  # put on the queue by `stop()`: the writer thread returns when it gets there


class RedactFilter(logging.Filter):
    """Builds the line's fields and scrubs them, on the writer thread, before serialization."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        setattr(record, _PAYLOAD_ATTR, self.redactor.scrub(build_payload(record)))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, _PAYLOAD_ATTR, None)
        if payload is None:
            payload = build_payload(record)
        return orjson.dumps(payload, default=str).decode()


def _iso_utc(created: float) -> str:
    whole = int(created)
    millis = int((created - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def build_payload(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields; the standard ones win over an `extra` of the same name."""
    payload: dict[str, Any] = {
        "ts": _iso_utc(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    for key, val in record.__dict__.items():
        if key not in _STANDARD_ATTRS and key not in payload:
            payload[key] = val
    if record.exc_info:
        payload["exc"] = _EXC_FORMATTER.formatException(record.exc_info)
    elif record.exc_text:
        payload["exc"] = record.exc_text
    return payload


class JsonLogWriter:
    """The thread that builds, scrubs, serializes and writes queued records, one at a time."""

    def __init__(self, q: queue.Queue[Any], handler: logging.Handler) -> None:
        self.queue = q
        self.handler = handler
        self._thread = threading.Thread(target=self._run, name="routecar-log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            record = self.queue.get()
            if record is _STOP:
                return
            try:
                self.handler.handle(record)  # the RedactFilter, then the JSON line
            except Exception:  # noqa: BLE001 - a bad record must not stop every later line
                self.handler.handleError(record)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Drain and join, but never hang shutdown on a stream that stopped accepting writes."""
        if not self._thread.is_alive():
            return
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        if not self._thread.is_alive():  # else it holds the handler's lock, stuck in a write
            self.handler.flush()


class _DroppingQueueHandler(QueueHandler):
    """Enqueues without ever blocking; counts what a full queue forces it to drop."""

    def __init__(self, writer: JsonLogWriter) -> None:
        super().__init__(writer.queue)
        self.writer = writer
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        # Merge args and format the traceback now, on the caller's thread: the args may be
        # mutated and the exception gone by the time the writer thread gets to the record.
        # Building, scrubbing and serializing the line wait for the writer thread. No copy:
        # the record is ours alone (the hierarchy does not propagate past `routecar`).
        record.msg = record.getMessage()
        record.args = None
        if record.exc_info:
            record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
            record.exc_info = None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


_request_log = logging.getLogger(ROOT_LOGGER + ".request")


def parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}") from None


def setup_logging(level: str | int = "info", stream: IO[str] | None = None, *, redactor: Redactor,
                  queue_size: int = QUEUE_SIZE) -> JsonLogWriter:
    """Send the `routecar` logger hierarchy to `stream` (default: the current sys.stdout) as
    JSON lines via a writer thread, every line scrubbed with `redactor`.

    Calling it again replaces the previous set-up (its queue is drained first). Returns the
    running writer; `shutdown_logging()` stops it and flushes.
    """
    lvl = parse_level(level)
    shutdown_logging()
    stream_handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    stream_handler.setFormatter(JsonFormatter())
    stream_handler.addFilter(RedactFilter(redactor))
    writer = JsonLogWriter(queue.Queue(maxsize=queue_size), stream_handler)

    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(lvl)
    logger.addHandler(_DroppingQueueHandler(writer))
    # Own the hierarchy: a root handler (basicConfig, a library) would interleave plain-text
    # lines and break every JSON log parser downstream.
    logger.propagate = False
    writer.start()
    return writer


def _installed() -> list[_DroppingQueueHandler]:
    return [h for h in logging.getLogger(ROOT_LOGGER).handlers if isinstance(h, _DroppingQueueHandler)]


def shutdown_logging() -> None:
    """Write out everything queued, stop the writer thread and detach the handlers."""
    installed = _installed()
    if not installed:
        return
    logger = logging.getLogger(ROOT_LOGGER)
    for handler in installed:
        logger.removeHandler(handler)
        handler.writer.stop()
    logger.propagate = True


def dropped_log_records() -> int:
    """Records dropped since `setup_logging` because the writer fell behind."""
    return sum(h.dropped for h in _installed())


def log_request(record: RouteRecord) -> None:
    """One line per finished request, for when per-request logging is switched on."""
    if not _request_log.isEnabledFor(logging.INFO):
        return
    _request_log.info(
        "request",
        extra={
            "request_id": record.request_id,
            "endpoint": record.endpoint,
            "stream": record.stream,
            "route": record.route,
            "requested_model": record.requested_model,
            "chosen_model": record.chosen_model,
            "provider": record.provider,
            "upstream_model": record.upstream_model,
            "status": record.status,
            "outcome": record.outcome,
            "error": record.error_message,  # upstream words: scrubbed on the writer thread
            "attempts": record.attempts,
            "fallback": record.fallback,
            "latency_ms": round(record.latency_ms, 2),
            "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 2),
            "tokens": {"prompt": record.prompt_tokens, "completion": record.completion_tokens},
            "cost_usd": record.cost_usd,
            "overhead_ms": record.overhead_ms,
            "tags": record.tags,
            "config_hash": record.config_hash,
        },
    )
