"""Contract gaps found while hardening: each through a real sidecar and real fake providers.

- a request that failed everywhere is attributed to the provider it last went to;
- a context-length 400 with no larger-window candidate comes back as the provider's 400;
- the request that meets a 429 with a short Retry-After is held for the reset itself;
- an app's request id is echoed only when it is safe to reflect.
"""

from __future__ import annotations

import time

import aiohttp

from tests.conftest import one_model_yaml
from tests.helpers import route_rows

BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
NO_BREAKER = ("resilience:\n  retry: {max_attempts: 3, backoff: {base: 10ms, max: 20ms}}\n"
              "  circuit_breaker: {consecutive_failures: 100, min_requests: 100}\n")


async def post(sc, body=BODY, headers=None):
    async with aiohttp.ClientSession() as http:
        async with http.post(sc.data_url + "/v1/chat/completions", json=body, headers=headers or {}) as resp:
            return resp.status, dict(resp.headers), await resp.json(content_type=None)


async def test_a_total_failure_row_names_the_provider_it_last_went_to(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("down")
    fp.set_faults({"status": 503})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra=NO_BREAKER))
    status, _, _ = await post(sc)
    assert status == 502
    [row] = await route_rows(sc, 1)
    assert row["outcome"] == "upstream_error"
    assert row["provider"] == "p0" and row["upstream_model"] == "up-0" and row["chosen_model"] == "m"


async def test_context_length_with_no_larger_window_is_the_providers_400(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("small")
    fp.set_faults({"context_length_error": True})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra=NO_BREAKER))
    status, _, body = await post(sc)
    assert status == 400, body
    message = body["error"]["message"]
    assert "context" in message.lower() or "maximum" in message.lower(), message
    [row] = await route_rows(sc, 1)
    assert row["outcome"] == "bad_request" and row["status"] == 400 and row["provider"] == "p0"


async def test_the_request_that_meets_a_short_429_waits_for_the_reset(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("limited")
    fp.set_faults({"status": 429, "retry_after": 1, "count": 1})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra=NO_BREAKER + "server: {max_queue_wait: 5s}\n"))
    started = time.monotonic()
    status, headers, _ = await post(sc)
    waited = time.monotonic() - started
    assert status == 200 and headers["x-routecar-attempts"] == "2"
    assert 0.9 <= waited < 4.0  # held for the reset, not answered 429 at once
    [row] = await route_rows(sc, 1)
    assert [a["status"] for a in row["attempt_log"]] == [429, 200]


async def test_a_429_longer_than_the_queue_wait_is_answered_at_once(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("limited")
    fp.set_faults({"status": 429, "retry_after": 30})
    sc = await sidecar_factory(one_model_yaml(fp.openai_base, extra=NO_BREAKER + "server: {max_queue_wait: 2s}\n"))
    status, headers, _ = await post(sc)
    assert status == 429 and int(headers["Retry-After"]) >= 28


async def test_a_safe_request_id_is_echoed_and_an_unsafe_one_replaced(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("ok")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    status, headers, _ = await post(sc, headers={"x-routecar-request-id": "app-42:trace/7"})
    assert status == 200 and headers["x-routecar-request-id"] == "app-42:trace/7"
    status, headers, _ = await post(sc, headers={"x-routecar-request-id": "has space\"quote"})
    assert status == 200 and headers["x-routecar-request-id"].startswith("rc-")
    rows = await route_rows(sc, 2)
    assert [r["request_id"] for r in rows] == ["app-42:trace/7", headers["x-routecar-request-id"]]


async def test_404_and_405_carry_a_request_id(fake_factory, sidecar_factory) -> None:
    fp = await fake_factory("ok")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    async with aiohttp.ClientSession() as http:
        async with http.get(sc.data_url + "/v1/nope", headers={"x-routecar-request-id": "mine-1"}) as resp:
            assert resp.status == 404 and resp.headers["x-routecar-request-id"] == "mine-1"
        async with http.get(sc.data_url + "/v1/chat/completions") as resp:
            assert resp.status == 405 and resp.headers["x-routecar-request-id"].startswith("rc-")
