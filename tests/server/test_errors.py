"""Every row of the error table (docs/http-api.md), through the sidecar, with real fake upstreams."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import one_model_yaml
from tests.helpers import route_rows

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def post(sc, body=None, raw: bytes | None = None, headers=None, path="/v1/chat/completions"):
    async with aiohttp.ClientSession() as http:
        kwargs = {"data": raw} if raw is not None else {"json": body}
        async with http.post(sc.data_url + path, headers=headers or {}, **kwargs) as resp:
            return resp.status, resp.headers, await resp.json(content_type=None)


def assert_openai_error(payload, code=None):
    err = payload["error"]
    assert set(err) == {"message", "type", "code", "param"}
    assert "Traceback" not in err["message"]
    if code:
        assert err["code"] == code


@pytest.fixture
async def sc(fake_factory, sidecar_factory):
    fp = await fake_factory("a")
    sidecar = await sidecar_factory(one_model_yaml(fp.openai_base, extra="server: {max_body_bytes: 2048}"))
    sidecar.fake = fp
    return sidecar


async def test_invalid_json_is_400(sc):
    status, headers, payload = await post(sc, raw=b"{not json")
    assert status == 400 and payload["error"]["type"] == "invalid_request_error"
    assert_openai_error(payload, "invalid_json")
    assert headers["x-routecar-request-id"]


@pytest.mark.parametrize("body,param", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": "hello"}, "messages"),
    ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
    ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
])
async def test_missing_or_wrong_fields_are_400(sc, body, param):
    status, _, payload = await post(sc, body)
    assert status == 400
    assert_openai_error(payload)
    assert payload["error"]["param"] == param


async def test_unknown_model_is_404_with_close_names(sc):
    status, _, payload = await post(sc, {**CHAT, "model": "mm"})
    assert status == 404
    assert_openai_error(payload, "model_not_found")
    assert "'m'" in payload["error"]["message"] or " m" in payload["error"]["message"]


async def test_oversized_body_is_413(sc):
    status, _, payload = await post(sc, {**CHAT, "messages": [{"role": "user", "content": "x" * 5000}]})
    assert status == 413
    assert_openai_error(payload, "request_too_large")


async def test_upstream_html_error_page_is_502(sc):
    sc.fake.set_faults({"html_error": True})
    status, _, payload = await post(sc, CHAT)
    assert status == 502
    assert_openai_error(payload)
    assert "p0" in payload["error"]["message"]


async def test_upstream_malformed_body_is_502(sc):
    sc.fake.set_faults({"malformed": True})
    status, _, payload = await post(sc, CHAT)
    assert status == 502
    assert_openai_error(payload)


async def test_upstream_non_retryable_4xx_passes_through(sc):
    sc.fake.set_faults({"status": 401})
    status, _, payload = await post(sc, CHAT)
    assert status == 401
    assert_openai_error(payload)
    assert sc.fake.stats()["requests"] == 1, "a 401 must not be retried"


async def test_upstream_closing_connection_is_502(sc):
    sc.fake.set_faults({"disconnect_after_chunks": 0})
    status, _, payload = await post(sc, {**CHAT, "stream": True})
    assert status == 502
    assert_openai_error(payload)


async def test_every_candidate_rate_limited_is_429_with_retry_after(sc):
    sc.fake.set_faults({"status": 429, "retry_after": 7})
    status, headers, payload = await post(sc, CHAT)
    assert status == 429
    assert_openai_error(payload)
    assert 1 <= int(headers["Retry-After"]) <= 7
    # the deployment now cools down: the next request is answered without calling it
    before = sc.fake.stats()["requests"]
    status, headers, _ = await post(sc, CHAT, headers={"x-routecar-timeout-ms": "300"})
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert sc.fake.stats()["requests"] == before


async def test_deadline_passed_is_504(fake_factory, sidecar_factory):
    fp = await fake_factory("slow", latency_ms=2000)
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    status, _, payload = await post(sc, CHAT, headers={"x-routecar-timeout-ms": "200"})
    assert status == 504
    assert_openai_error(payload)


async def test_upstream_hang_times_out_on_first_token(fake_factory, sidecar_factory):
    fp = await fake_factory("hang")
    fp.set_faults({"hang": True})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, timeouts="{connect: 1s, first_token: 300ms, total: 300ms}"))
    status, _, payload = await post(sc, {**CHAT, "stream": True})
    assert status == 504
    assert_openai_error(payload)


async def test_every_circuit_open_is_503(fake_factory, sidecar_factory):
    fp = await fake_factory("a")
    fp.set_faults({"status": 500})
    yaml = one_model_yaml(fp.openai_base, extra=(
        "resilience:\n  retry: {max_attempts: 1}\n"
        "  circuit_breaker: {min_requests: 2, consecutive_failures: 2, open_for: 60s, max_open_for: 120s}"))
    sc = await sidecar_factory(yaml)
    for _ in range(2):
        status, _, _ = await post(sc, CHAT)
        assert status == 502
    # open now: one panic probe goes through, then 503 with Retry-After
    status, headers, payload = await post(sc, CHAT)
    assert status == 503
    assert_openai_error(payload)
    assert int(headers["Retry-After"]) >= 1


async def test_rejected_requests_leave_rows(sc):
    await post(sc, raw=b"nope")
    await post(sc, {**CHAT, "model": "zzz"})
    rows = await route_rows(sc, 2)
    assert [r["outcome"] for r in rows] == ["bad_request", "bad_request"]
    assert rows[1]["status"] == 404 and rows[1]["requested_model"] == "zzz"


async def test_oversized_chunked_body_is_413(sc):
    async def body():
        for _ in range(10):
            yield b"x" * 1024

    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/chat/completions", data=body()) as resp:
            assert resp.status == 413
            assert_openai_error(await resp.json(), "request_too_large")
