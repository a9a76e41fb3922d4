"""W3C trace propagation through a real `routecar serve`: every upstream request carries a
`traceparent` naming the CLIENT span the OTLP receiver gets for that attempt (and the app's
`tracestate`), only when telemetry.otlp is configured; sampling shows in the flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from routecar.telemetry.traceparent import parse_traceparent
from tests.lifecycle.conftest import SidecarProcess

from .header_upstream import HeaderUpstream
from .otlp_receiver import OtlpReceiver, attrs
from .test_telemetry_e2e import BODY, PARENT_SPAN, TRACE_ID, rows_now, serve_yaml, until

APP_HEADERS = {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN}-01", "tracestate": "vendor=abc,other=1"}


async def upstreams() -> tuple[HeaderUpstream, HeaderUpstream]:
    bad, good = HeaderUpstream(500), HeaderUpstream(200)
    await bad.start()
    await good.start()
    return bad, good


async def test_each_attempt_sends_its_own_span_as_the_upstream_parent(tmp_path: Path) -> None:
    bad, good = await upstreams()
    receiver = OtlpReceiver()
    await receiver.start()
    cfg, db = tmp_path / "sidecar.yaml", tmp_path / "routes.db"
    cfg.write_text(serve_yaml(bad.url, good.url, db, f"""
telemetry:
  otlp: {{endpoint: '{receiver.url}'}}
"""))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        url = sidecar.data_url + "/v1/chat/completions"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=BODY, headers=APP_HEADERS) as resp:
                assert resp.status == 200 and resp.headers["x-routecar-provider"] == "good"
                traced_id = resp.headers["x-routecar-request-id"]
            # No traceparent from the app: a new trace, still propagated; a stream this time.
            async with http.post(url, json={**BODY, "stream": True}) as resp:
                assert resp.status == 200
                await resp.read()
                fresh_id = resp.headers["x-routecar-request-id"]
        rows = {r["request_id"]: r for r in await until(lambda: len(rows_now(db)) >= 2 and rows_now(db), "2 rows")}
        clients = await until(lambda: [s for s in receiver.spans if s.kind == Span.SPAN_KIND_CLIENT]
                              if sum(s.kind == Span.SPAN_KIND_SERVER for s in receiver.spans) >= 2 else None,
                              "2 server spans")
        servers = {attrs(s.attributes)["routecar.request_id"]: s for s in receiver.spans
                   if s.kind == Span.SPAN_KIND_SERVER}
        by_span = {c.span_id.hex(): c for c in clients}

        # The failover: one upstream request each, two attempt spans, the app's trace on both.
        assert len(bad.headers) >= 1 and len(good.headers) == 2
        sent: list[tuple[str, dict[str, str]]] = [("bad", h) for h in bad.headers] + \
            [("good", h) for h in good.headers]
        first_bad, first_good = bad.headers[0], good.headers[0]
        p_bad, p_good = parse_traceparent(first_bad["traceparent"]), parse_traceparent(first_good["traceparent"])
        assert p_bad is not None and p_good is not None
        assert p_bad.trace_id == p_good.trace_id == TRACE_ID
        assert p_bad.span_id != p_good.span_id and PARENT_SPAN not in (p_bad.span_id, p_good.span_id)
        assert first_bad["traceparent"].endswith("-01") and first_good["traceparent"].endswith("-01")
        assert first_bad["tracestate"] == first_good["tracestate"] == APP_HEADERS["tracestate"]
        server = servers[traced_id]
        assert server.trace_id.hex() == TRACE_ID and server.parent_span_id.hex() == PARENT_SPAN
        for provider, parent in (("bad", p_bad), ("good", p_good)):
            span = by_span[parent.span_id]  # the CLIENT span the upstream's parent-id names
            assert span.trace_id.hex() == TRACE_ID and span.parent_span_id == server.span_id
            assert attrs(span.attributes)["gen_ai.provider.name"] == provider
        assert [a["span_id"] for a in rows[traced_id]["attempt_log"]] == [p_bad.span_id, p_good.span_id]

        # Every upstream request, the stream's included, names a CLIENT span of its request.
        for provider, headers in sent:
            parent = parse_traceparent(headers["traceparent"])
            assert parent is not None
            span = by_span[parent.span_id]
            assert span.trace_id.hex() == parent.trace_id
            assert attrs(span.attributes)["gen_ai.provider.name"] == provider
        fresh = servers[fresh_id]
        assert fresh.trace_id.hex() != TRACE_ID and not fresh.parent_span_id
        last = parse_traceparent(good.headers[-1]["traceparent"])
        assert last is not None and last.trace_id == fresh.trace_id.hex()
        assert "tracestate" not in good.headers[-1]
        assert rows[fresh_id]["attempt_log"][-1]["span_id"] == last.span_id
        assert by_span[last.span_id].parent_span_id == fresh.span_id
    finally:
        await sidecar.kill()
        await receiver.stop()
        await bad.stop()
        await good.stop()


async def test_no_trace_header_upstream_without_otlp_and_unsampled_flags(tmp_path: Path) -> None:
    bad, good = await upstreams()
    bad.status = 200
    receiver = OtlpReceiver()
    await receiver.start()
    procs: list[SidecarProcess] = []
    cases: list[tuple[str, str]] = [
        ("off", ""),
        ("rows_only", "telemetry: {route_rows: stdout}"),
        ("unsampled", f"telemetry: {{otlp: {{endpoint: '{receiver.url}', sample_ratio: 0.0}}, route_rows: otlp_logs}}"),
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for name, telemetry in cases:
                cfg, db = tmp_path / f"{name}.yaml", tmp_path / f"{name}.db"
                cfg.write_text(serve_yaml(bad.url, good.url, db, telemetry))
                sidecar = SidecarProcess(cfg)
                procs.append(sidecar)
                await sidecar.start()
                before = len(bad.headers)
                async with http.post(sidecar.data_url + "/v1/chat/completions", json=BODY,
                                     headers=APP_HEADERS) as resp:
                    assert resp.status == 200
                seen = bad.headers[before:]
                assert len(seen) == 1, name
                if name == "unsampled":
                    parent = parse_traceparent(seen[0]["traceparent"])
                    assert parent is not None and parent.trace_id == TRACE_ID, seen[0]
                    assert seen[0]["traceparent"].endswith("-00")  # sample_ratio 0: not sampled
                    # Traces are posted before the logs of the same batch: once the row's log
                    # record is in, a span would have been too.
                    logs: Any = await until(lambda: receiver.logs, "the route row as a log record")
                    assert receiver.spans == [] and logs[0].trace_id == b""
                    body = json.loads(logs[0].body.string_value)
                    assert body["attempt_log"][0]["span_id"] == parent.span_id and body["trace_id"] == TRACE_ID
                else:
                    assert "traceparent" not in seen[0] and "tracestate" not in seen[0], name
                    rows = await until(lambda: rows_now(db), f"the {name} row")
                    assert "span_id" not in rows[0]["attempt_log"][0]
    finally:
        for sidecar in procs:
            await sidecar.kill()
        await receiver.stop()
        await bad.stop()
        await good.stop()
