"""Structured JSON logs: one object per line, written off the event loop, secrets scrubbed.

Request handlers only enqueue: a `QueueHandler` on the `routecar` logger puts records on a
bounded queue and a `QueueListener` thread serializes (orjson) and writes them, so a slow or
blocked stdout (a full pipe, a stalled log shipper) never stalls the event loop. When the
queue is full, records are dropped and counted rather than blocking a request.

Each line: `ts` (ISO-8601 UTC), `level`, `logger`, `msg`, every `extra={...}` field, and `exc`
(the formatted traceback as one string) when an exception is logged.

Redaction is defence in depth: API keys should never reach a log call at all, but anything
shaped like a key (`sk-…`, `sk-ant-…`, `AIza…`, bearer tokens) or equal to a secret registered
with `register_secret` is replaced in messages and extra fields before the line is written.
"""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from logging.handlers import QueueHandler, QueueListener
from typing import IO, Any

import orjson

from routecar.routelog.record import RouteRecord

ROOT_LOGGER = "routecar"
REDACTED = "[REDACTED]"
# Enough to ride out a burst while stdout is slow, small enough to bound memory.
QUEUE_SIZE = 10_000
# How long shutdown waits for the writer thread to drain before giving up on a stuck stream.
STOP_TIMEOUT = 5.0
# Registered secrets shorter than this are ignored: scrubbing "ab" from every line would wreck
# the logs, and no real credential is that short.
MIN_SECRET_LEN = 4

_KEY_PATTERNS = (
    r"sk-[A-Za-z0-9_\-]{8,}",  # OpenAI (sk-, sk-proj-) and Anthropic (sk-ant-)
    r"AIza[0-9A-Za-z_\-]{20,}",  # Google / Gemini
    r"(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*",
)
_PAYLOAD_ATTR = "routecar_payload"
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__
) | {"message", "asctime", "taskName", _PAYLOAD_ATTR}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
_SAFE_SCALARS = (str, int, float, bool, type(None))
_EXC_FORMATTER = logging.Formatter()


class Redactor:
    """Replaces key-shaped strings and registered secrets, recursively through containers."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()
        self._pattern = self._compile()

    def register(self, value: str) -> None:
        if not value or len(value) < MIN_SECRET_LEN:
            return
        with self._lock:
            if value not in self._secrets:
                self._secrets.add(value)
                self._pattern = self._compile()

    def _compile(self) -> re.Pattern[str]:
        # Longest first so a secret that contains another is replaced whole.
        literals = [re.escape(s) for s in sorted(self._secrets, key=len, reverse=True)]
        return re.compile("|".join([*literals, *_KEY_PATTERNS]))

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value)

    def scrub(self, value: Any, depth: int = 0) -> Any:
        """A JSON-safe copy of `value` with secrets replaced.

        Anything that is not a plain scalar or container is turned into `str()` first: orjson
        would serialize a dataclass field by field, `repr=False` keys included, while `str()`
        goes through the repr that hides them.
        """
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value)
        if isinstance(value, _SAFE_SCALARS):
            return value
        if depth < 8:  # bounded: a self-referencing structure must not recurse forever
            if isinstance(value, dict):
                return {self.text(str(k)): self.scrub(v, depth + 1) for k, v in value.items()}
            if isinstance(value, (list, tuple, set, frozenset)):
                return [self.scrub(v, depth + 1) for v in value]
        return self._pattern.sub(REDACTED, str(value))


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


class _DroppingQueueHandler(QueueHandler):
    """Enqueues without ever blocking; counts what a full queue forces it to drop."""

    def __init__(self, q: queue.Queue[Any]) -> None:
        super().__init__(q)
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


class _Listener(QueueListener):
    def stop(self, timeout: float = STOP_TIMEOUT) -> None:  # type: ignore[override]
        """Drain and join, but never hang shutdown on a stream that stopped accepting writes."""
        thread = self._thread  # type: ignore[attr-defined]
        if thread is None:
            return
        try:
            self.queue.put(self._sentinel, timeout=timeout)  # type: ignore[attr-defined]
        except queue.Full:
            pass
        thread.join(timeout)
        self._thread = None


class _State:
    """What `setup_logging` installed, so a second call or `shutdown_logging` can undo it."""

    listener: _Listener | None = None
    queue_handler: _DroppingQueueHandler | None = None
    stream_handler: logging.Handler | None = None


_redactor = Redactor()
_state = _State()
_request_log = logging.getLogger(ROOT_LOGGER + ".request")


def register_secret(value: str) -> None:
    """Scrub this literal (an API key from config, say) from every line from now on."""
    _redactor.register(value)


def redact(text: str) -> str:
    """`text` with key-shaped strings and registered secrets replaced (for error messages)."""
    return _redactor.text(text)


def parse_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    try:
        return _LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}") from None


def setup_logging(level: str | int = "info", stream: IO[str] | None = None) -> QueueListener:
    """Send the `routecar` logger hierarchy to `stream` (default: the current sys.stdout) as
    JSON lines via a writer thread.

    Calling it again replaces the previous set-up (its queue is drained first). Returns the
    running listener; `shutdown_logging()` stops it and flushes.
    """
    lvl = parse_level(level)
    shutdown_logging()
    q: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
    stream_handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    stream_handler.setFormatter(JsonFormatter())
    stream_handler.addFilter(RedactFilter(_redactor))
    queue_handler = _DroppingQueueHandler(q)
    listener = _Listener(q, stream_handler, respect_handler_level=False)

    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(lvl)
    logger.addHandler(queue_handler)
    # Own the hierarchy: a root handler (basicConfig, a library) would interleave plain-text
    # lines and break every JSON log parser downstream.
    logger.propagate = False
    listener.start()
    _state.listener, _state.queue_handler, _state.stream_handler = listener, queue_handler, stream_handler
    return listener


def shutdown_logging() -> None:
    """Write out everything queued, stop the writer thread and detach the handlers."""
    listener, queue_handler, stream_handler = _state.listener, _state.queue_handler, _state.stream_handler
    if listener is None:
        return
    logger = logging.getLogger(ROOT_LOGGER)
    if queue_handler is not None:
        logger.removeHandler(queue_handler)
    listener.stop()
    if stream_handler is not None:
        stream_handler.flush()
    logger.propagate = True
    _state.listener = _state.queue_handler = _state.stream_handler = None


def dropped_log_records() -> int:
    """Records dropped since `setup_logging` because the writer fell behind."""
    handler = _state.queue_handler
    return 0 if handler is None else handler.dropped


def log_request(record: RouteRecord) -> None:
    """One line per finished request, for when per-request logging is switched on."""
    if not _request_log.isEnabledFor(logging.INFO):
        return
    _request_log.info(
        "request",
        extra={
            "request_id": record.request_id,
            "route": record.route,
            "requested_model": record.requested_model,
            "chosen_model": record.chosen_model,
            "provider": record.provider,
            "status": record.status,
            "outcome": record.outcome,
            "attempts": record.attempts,
            "latency_ms": round(record.latency_ms, 2),
            "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 2),
            "tokens": {"prompt": record.prompt_tokens, "completion": record.completion_tokens},
            "cost_usd": record.cost_usd,
        },
    )
