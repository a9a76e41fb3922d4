"""The telemetry exporter: finished route records in, OTLP spans / route rows out.

`submit` is all the request path pays (a bounded deque append). One asyncio task takes
batches off the queue and hands each to a worker thread (`asyncio.to_thread`) that builds
the protobuf / JSON and does the blocking HTTP POST or stdout write, so the event loop never
waits on a collector. A full queue drops the record and counts it; an export that fails
(collector down, slow past `otlp.timeout`, non-2xx) drops that batch and counts it: a dead
collector costs bounded memory and no request.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, deque

import orjson

from routecar.config.model import TelemetryConfig
from routecar.redaction import Redactor
from routecar.routelog.record import RouteRecord
from routecar.routelog.rows import decode_row, to_row
from routecar.routelog.schema import COLUMN_NAMES

from . import otlp
from .traceparent import new_span_id, new_trace_id, sampled

log = logging.getLogger("routecar.telemetry")

QUEUE_SIZE = 4096  # records waiting; beyond this they are dropped and counted
BATCH_SIZE = 256  # records per export request
FLUSH_INTERVAL = 0.5  # longest a record waits for its batch
CLOSE_BUDGET = 3.0  # seconds close() spends draining before it drops the rest
# The worker thread builds YIELD_EVERY records (~0.4 ms of CPU), then blocks YIELD_SECONDS so the
# event loop, on the same core, never waits long for the GIL (unless records are backing up).
YIELD_EVERY = 8
YIELD_SECONDS = 0.0002
SERVICE_NAME = "routecar"
# The collector is reached directly: an HTTP(S)_PROXY meant for the app's own traffic must not
# silently reroute (or hold up) telemetry.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TelemetryExporter:
    def __init__(self, config: TelemetryConfig, *, record_prompts: bool, redactor: Redactor,
                 queue_size: int = QUEUE_SIZE, batch_size: int = BATCH_SIZE,
                 flush_interval: float = FLUSH_INTERVAL) -> None:
        self._config = config
        self._otlp = config.otlp
        self._record_prompts = record_prompts
        self._redactor = redactor
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._queue: deque[RouteRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # (signal, result) -> items: signal traces|logs|stdout, result exported|failed|dropped
        self.counts: Counter[tuple[str, str]] = Counter()
        self._signals = ([("traces")] if self._otlp is not None else []) + \
            ([{"otlp_logs": "logs", "stdout": "stdout"}[config.route_rows]] if config.route_rows != "none" else [])
        headers = {"content-type": "application/x-protobuf"}
        if self._otlp is not None:
            headers.update(self._otlp.headers)
        self._headers = headers

    # --- request path ---------------------------------------------------------------------

    def submit(self, record: RouteRecord) -> None:
        if self._closing or len(self._queue) >= self._queue_size:
            for signal in self._signals:
                self.counts[(signal, "dropped")] += 1
            return
        self._queue.append(record)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="routecar-telemetry-exporter")

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def close(self) -> None:
        """Exports what is queued within CLOSE_BUDGET, then drops (and counts) the rest."""
        self._closing = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), CLOSE_BUDGET)
        except TimeoutError:
            self._task.cancel()
            lost = len(self._queue)
            self._queue.clear()
            for signal in self._signals:
                self.counts[(signal, "dropped")] += lost
            log.warning("telemetry: collector too slow at shutdown; %d records not exported", lost)

    async def _run(self) -> None:
        while True:
            if not self._closing and len(self._queue) < self._batch_size:
                try:
                    await asyncio.wait_for(self._wake.wait(), self._flush_interval)
                except TimeoutError:
                    pass
            self._wake.clear()
            while self._queue:
                n = min(len(self._queue), self._batch_size)
                batch = [self._queue.popleft() for _ in range(n)]
                try:
                    await asyncio.to_thread(self._export, batch)
                except Exception:  # a bug here must never take the sidecar down
                    log.exception("telemetry export failed")
                if not self._closing and len(self._queue) < self._batch_size:
                    break
            if self._closing and not self._queue:
                return

    # --- the worker thread ----------------------------------------------------------------

    def _export(self, batch: list[RouteRecord]) -> None:
        cfg = self._config
        stdout, logs_wanted = cfg.route_rows == "stdout", cfg.route_rows == "otlp_logs"
        spans: list[bytes] = []
        rows: list[bytes] = []
        logs: list[bytes] = []
        sampled_records = 0
        for i, record in enumerate(batch):
            if i and i % YIELD_EVERY == 0 and len(self._queue) < self._batch_size:
                # Blocking (not sleep(0)) hands the GIL to the event loop if it is waiting: without
                # it a batch holds the loop for up to the 5 ms switch interval (a p99 spike). Not
                # under a backlog: each yield then costs up to a switch interval of waiting for the
                # GIL back, and the queue would overflow; the interpreter's switching shares the core.
                time.sleep(YIELD_SECONDS)
            trace_id = span_id = None
            if self._otlp is not None:
                trace_id, span_id, parent_id, keep = self._span_ids(record)
                if keep:
                    # The ids the request path chose (and sent upstream in each traceparent).
                    attempts = record.list_columns()["attempt_log"]
                    attempt_ids = [a.get("span_id") or new_span_id() for a in attempts]
                    spans.extend(otlp.request_spans(record, trace_id, span_id, parent_id, attempt_ids, attempts))
                    sampled_records += 1
                else:
                    trace_id = span_id = None  # an unsampled trace: its row links to nothing
            if stdout:
                rows.append(self._row_json(record))
            elif logs_wanted:
                logs.append(otlp.log_record(self._row_json(record).decode(), record, trace_id, span_id))
        if spans:  # before the logs: a collector sees a row's span no later than the row
            self._post("traces", "/v1/traces", otlp.trace_request(spans, SERVICE_NAME), sampled_records)
        if stdout:
            try:
                out = sys.stdout.buffer
                out.write(b"".join(row + b"\n" for row in rows))
                out.flush()
                self.counts[("stdout", "exported")] += len(rows)
            except (OSError, ValueError):
                self.counts[("stdout", "failed")] += len(rows)
        elif logs:
            self._post("logs", "/v1/logs", otlp.logs_request(logs, SERVICE_NAME), len(logs))

    def _span_ids(self, record: RouteRecord) -> tuple[str, str, str | None, bool]:
        """(trace id, server span id, parent span id, sampled), as decided on the request path
        (RouteRecord.trace); a record without a trace gets fresh ids."""
        trace = record.trace
        if trace is not None:
            return trace.trace_id, trace.span_id, trace.parent_span_id, trace.sampled
        trace_id = new_trace_id()
        ratio = self._otlp.sample_ratio if self._otlp is not None else 0.0
        return trace_id, new_span_id(), None, sampled(trace_id, ratio)

    def _row_json(self, record: RouteRecord) -> bytes:
        # `event` first: a log shipper tells rows from routecar's own JSON log lines by it.
        row = {"event": "route_row", **dict(zip(COLUMN_NAMES, to_row(record, self._record_prompts, self._redactor)))}
        if record.trace is not None:
            # The request's trace and SERVER span: a log pipeline links the row to its trace
            # (e.g. a Loki derived field to Tempo); each attempt's span is in attempt_log.
            row["trace_id"], row["span_id"] = record.trace.trace_id, record.trace.span_id
        return orjson.dumps(decode_row(row))

    def _post(self, signal: str, path: str, body: bytes, items: int) -> None:
        assert self._otlp is not None
        req = urllib.request.Request(self._otlp.endpoint + path, data=body, headers=self._headers, method="POST")
        try:
            with _OPENER.open(req, timeout=self._otlp.timeout) as resp:
                resp.read(64 << 10)  # bounded: the answer is a small status message
            self.counts[(signal, "exported")] += items
        except (urllib.error.URLError, OSError, ValueError) as e:
            self.counts[(signal, "failed")] += items
            # The URL only: headers may carry the collector's credentials.
            log.warning("telemetry: export of %d %s to %s failed: %s", items, signal, self._otlp.endpoint,
                        type(e).__name__ if not isinstance(e, urllib.error.HTTPError) else f"HTTP {e.code}")
