"""OpenTelemetry export through a real `routecar serve`: spans and route rows reach a real
OTLP/HTTP receiver (or stdout) with the SQLite rows' values; a dead or hung collector costs
no request. Waits are bounded polls, never sleeps to synchronise."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path
from typing import Any, Callable

import aiohttp
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.helpers import read_rows
from tests.lifecycle.conftest import SidecarProcess

from .otlp_receiver import OtlpReceiver, attrs

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def serve_yaml(bad_url: str, good_url: str, db: Path, telemetry: str) -> str:
    timeouts = "{connect: 1s, first_token: 5s, idle: 5s, total: 10s}"
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  bad: {{type: openai, base_url: '{bad_url}/v1', api_key: sk-secret-bad-key, timeouts: {timeouts}}}
  good: {{type: openai, base_url: '{good_url}/v1', api_key: sk-secret-good-key, timeouts: {timeouts}}}
models:
  m:
    price: {{input: 1.0, output: 2.0}}
    deployments:
      - {{provider: bad, model: up-bad, weight: 1000000}}
      - {{provider: good, model: up-good, weight: 1}}
resilience:
  health_check: {{enabled: false}}
route_log: {{path: '{db}', flush_interval: 50ms}}
{telemetry}
"""


async def until(check: Callable[[], Any], what: str, tries: int = 200) -> Any:
    for _ in range(tries):  # bounded: 10 s
        got = check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def rows_now(db: Path) -> list[dict]:
    try:
        return read_rows(str(db))
    except sqlite3.OperationalError:
        return []


async def metric(http: aiohttp.ClientSession, admin: str, line_start: str) -> float:
    async with http.get(admin + "/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_spans_and_log_rows_match_the_route_log(fake_factory, tmp_path):
    bad, good = await fake_factory("bad"), await fake_factory("good")
    bad.set_faults({"status": 500})
    receiver = OtlpReceiver()
    await receiver.start()
    cfg, db = tmp_path / "sidecar.yaml", tmp_path / "routes.db"
    cfg.write_text(serve_yaml(bad.url, good.url, db, f"""
telemetry:
  otlp: {{endpoint: '{receiver.url}', headers: {{x-collector-token: tok-123}}}}
  route_rows: otlp_logs
"""))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        async with aiohttp.ClientSession() as http:
            traceparent = f"00-{TRACE_ID}-{PARENT_SPAN}-01"
            url = sidecar.data_url + "/v1/chat/completions"
            async with http.post(url, json=BODY, headers={"traceparent": traceparent}) as resp:
                assert resp.status == 200 and resp.headers["x-routecar-provider"] == "good"
                traced_id = resp.headers["x-routecar-request-id"]
            for _ in range(3):
                async with http.post(url, json=BODY) as resp:
                    assert resp.status == 200
            rows = await until(lambda: len(rows_now(db)) >= 4 and rows_now(db), "4 rows")
            server = await until(lambda: [s for s in receiver.spans if s.kind == Span.SPAN_KIND_SERVER]
                                 if sum(s.kind == Span.SPAN_KIND_SERVER for s in receiver.spans) >= 4 else None,
                                 "4 server spans")
            await until(lambda: len(receiver.logs) >= 4, "4 log records")
            exported = await metric(http, sidecar.admin_url,
                                    'routecar_telemetry_exported_total{result="exported",signal="traces"}')
        assert exported == 4
        assert len(server) == len(rows) == 4 and len(receiver.logs) == 4
        by_id = {attrs(s.attributes)["routecar.request_id"]: s for s in server}
        clients = [s for s in receiver.spans if s.kind == Span.SPAN_KIND_CLIENT]
        for row in rows:
            span = by_id[row["request_id"]]
            a = attrs(span.attributes)
            assert span.name == "chat m"
            assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "m"
            assert a["gen_ai.provider.name"] == "good" and a["gen_ai.response.model"] == "up-good"
            assert a["gen_ai.usage.input_tokens"] == row["prompt_tokens"] > 0
            assert a["gen_ai.usage.output_tokens"] == row["completion_tokens"] > 0
            assert a["gen_ai.request.max_tokens"] == BODY["max_tokens"]
            assert a["routecar.cost_usd"] == row["cost_usd"] > 0
            assert a["routecar.attempts"] == row["attempts"] == len(row["attempt_log"])
            assert a["routecar.outcome"] == "ok" and a.get("routecar.strategy") == row["strategy"]
            mine = [c for c in clients if c.parent_span_id == span.span_id and c.trace_id == span.trace_id]
            assert len(mine) == len(row["attempt_log"])
            mine.sort(key=lambda c: c.start_time_unix_nano)
            for c, attempt in zip(mine, row["attempt_log"]):
                ca = attrs(c.attributes)
                assert c.name == f"chat {attempt['model']}"
                assert ca["gen_ai.provider.name"] == attempt["provider"]
                assert ca.get("error.type") == attempt["error"]
                assert span.start_time_unix_nano <= c.start_time_unix_nano <= c.end_time_unix_nano \
                    <= span.end_time_unix_nano
        # The failover: two attempt spans, the first one's error class on it.
        first = by_id[traced_id]
        assert first.trace_id.hex() == TRACE_ID and first.parent_span_id.hex() == PARENT_SPAN
        mine = sorted((c for c in clients if c.parent_span_id == first.span_id), key=lambda c: c.start_time_unix_nano)
        assert [attrs(c.attributes)["gen_ai.provider.name"] for c in mine] == ["bad", "good"]
        assert attrs(mine[0].attributes)["error.type"].startswith("http_5")
        assert mine[0].status.code == mine[0].status.STATUS_CODE_ERROR
        assert all(c.trace_id.hex() == TRACE_ID for c in mine)
        assert sum(s.trace_id.hex() == TRACE_ID for s in receiver.spans) == 3
        # Route rows as OTLP log records: one per SQLite row, the row's values, linked to the span.
        bodies = {json.loads(r.body.string_value)["request_id"]: (r, json.loads(r.body.string_value))
                  for r in receiver.logs}
        assert set(bodies) == {r["request_id"] for r in rows}
        for row in rows:
            rec, body = bodies[row["request_id"]]
            assert body["cost_usd"] == row["cost_usd"] and body["attempt_log"] == row["attempt_log"]
            assert rec.trace_id == by_id[row["request_id"]].trace_id
            # The row names its trace and server span itself (for a log pipeline's trace links).
            assert (body["trace_id"], body["span_id"]) == (rec.trace_id.hex(), by_id[row["request_id"]].span_id.hex())
        # The collector's header went with every export; no provider key anywhere.
        assert all(h.get("X-Collector-Token") == "tok-123" for h in receiver.headers)
        dump = b"".join(s.SerializeToString() for s in receiver.spans) + \
            b"".join(r.SerializeToString() for r in receiver.logs)
        assert b"sk-secret" not in dump and b"hello" not in dump
    finally:
        await sidecar.kill()
        await receiver.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_dead_or_hung_collector_costs_no_request_and_stdout_rows_still_flow(fake_factory, tmp_path):
    bad, good = await fake_factory("bad"), await fake_factory("good")
    # A collector that accepts connections and never answers.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}"
    dead_url = f"http://127.0.0.1:{closed_port()}"
    procs = []
    try:
        async with aiohttp.ClientSession() as http:
            for name, endpoint in (("dead", dead_url), ("hung", hung_url)):
                db = tmp_path / f"{name}.db"
                cfg = tmp_path / f"{name}.yaml"
                cfg.write_text(serve_yaml(good.url, bad.url, db, f"""
telemetry:
  otlp: {{endpoint: '{endpoint}', timeout: 200ms}}
  route_rows: stdout
"""))
                sidecar = SidecarProcess(cfg)
                procs.append(sidecar)
                await sidecar.start()
                url = sidecar.data_url + "/v1/chat/completions"
                for _ in range(5):
                    statuses = await asyncio.gather(*(http.post(url, json=BODY) for _ in range(10)))
                    assert [r.status for r in statuses] == [200] * 10
                    for r in statuses:
                        r.release()
                rows = await until(lambda: len(rows_now(db)) >= 50 and rows_now(db), "50 rows")

                def stdout_rows() -> list[dict]:
                    out = []
                    for line in sidecar.lines:
                        if line.startswith('{"event":"route_row"'):
                            out.append(json.loads(line))
                    return out

                printed = await until(lambda: len(stdout_rows()) >= 50 and stdout_rows(), f"50 stdout rows ({name}): " + sidecar.output()[-3000:])
                assert len(printed) == len(rows) == 50
                assert {p["request_id"] for p in printed} == {r["request_id"] for r in rows}
                assert all(p["cost_usd"] == r["cost_usd"] for p, r in
                           zip(sorted(printed, key=lambda p: p["request_id"]), sorted(rows, key=lambda r: r["request_id"])))
                lost = 0.0
                for _ in range(200):  # bounded: each failed export waits at most the 200 ms timeout
                    lost = sum([await metric(http, sidecar.admin_url,
                                             f'routecar_telemetry_exported_total{{result="{r}",signal="traces"}}')
                                for r in ("failed", "dropped")])
                    if lost >= 50:
                        break
                    await asyncio.sleep(0.05)
                assert lost == 50, name
                assert await metric(http, sidecar.admin_url,
                                    'routecar_telemetry_exported_total{result="exported",signal="traces"}') == 0
                assert await metric(http, sidecar.admin_url, "routecar_telemetry_queue_depth") <= 4096
    finally:
        for sidecar in procs:
            await sidecar.kill()
        hung.close()
