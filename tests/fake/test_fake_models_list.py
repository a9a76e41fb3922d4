"""The model lists of every dialect answer through the fault gate: health checks probe them."""

from __future__ import annotations

import aiohttp
import pytest

from routecar.fake.server import FakeProvider
from tests.fake.rawhttp import chat_request, read_head, send

# Each dialect's list request, as its SDKs (and the sidecar's health checks) send it.
LISTS = {
    "openai": ("/v1/models", {"Authorization": "Bearer x"}),
    "anthropic": ("/v1/models", {"x-api-key": "x", "anthropic-version": "2023-06-01"}),
    "gemini": ("/v1beta/models", {"x-goog-api-key": "x"}),
}


async def _get(http: aiohttp.ClientSession, fake: FakeProvider, dialect: str) -> tuple[int, dict]:
    path, headers = LISTS[dialect]
    async with http.get(fake.url + path, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_each_dialect_lists_in_its_own_shape(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    status, openai = await _get(http, fake, "openai")
    assert status == 200 and openai["object"] == "list" and openai["data"][0]["object"] == "model"
    status, claude = await _get(http, fake, "anthropic")
    assert status == 200 and claude["has_more"] is False
    ids = [m["id"] for m in claude["data"]]
    assert claude["first_id"] == ids[0] and claude["last_id"] == ids[-1]
    assert all(m["type"] == "model" and m["display_name"] and m["created_at"].endswith("Z") for m in claude["data"])
    status, gemini = await _get(http, fake, "gemini")
    assert status == 200 and gemini["models"][0]["name"].startswith("models/")


@pytest.mark.parametrize("dialect", sorted(LISTS))
async def test_an_unscoped_fault_reaches_the_list(fake: FakeProvider, http: aiohttp.ClientSession,
                                                  dialect: str) -> None:
    fake.set_faults({"status": 503})
    status, body = await _get(http, fake, dialect)
    assert status == 503
    # The error in the dialect's own shape: the anthropic list is told apart from openai's.
    assert {"openai": "message" in body.get("error", {}), "anthropic": body.get("type") == "error",
            "gemini": body.get("error", {}).get("status") == "UNAVAILABLE"}[dialect]


async def test_paths_scope_to_the_list_only(fake: FakeProvider, http: aiohttp.ClientSession) -> None:
    fake.set_faults({"status": 500, "paths": ["/v1/models"]})
    assert (await _get(http, fake, "openai"))[0] == 500
    assert (await _get(http, fake, "anthropic"))[0] == 500
    assert (await _get(http, fake, "gemini"))[0] == 200  # /v1beta/models is another path
    path, body = chat_request("openai", stream=False)
    async with http.post(fake.url + path, json=body) as resp:
        assert resp.status == 200
    fake.set_faults({"status": 429, "paths": ["anthropic"]})
    assert (await _get(http, fake, "anthropic"))[0] == 429
    assert (await _get(http, fake, "openai"))[0] == 200


@pytest.mark.parametrize("dialect", sorted(LISTS))
async def test_hostile_faults_reach_the_list(fake: FakeProvider, dialect: str) -> None:
    path, headers = LISTS[dialect]
    fake.set_faults({"gzip_bomb": 1})
    conn = await send(fake.port, "GET", path, None, headers)
    head, _ = await read_head(conn)
    await conn.close()
    assert head.status == 200 and head.headers["content-encoding"] == "gzip"
    fake.set_faults({"interim_flood": 2})
    conn = await send(fake.port, "GET", path, None, headers)
    statuses = [(await read_head(conn))[0].status for _ in range(3)]
    await conn.close()
    assert statuses == [100, 100, 200]


async def test_hang_on_the_list(fake: FakeProvider) -> None:
    fake.set_faults({"hang": True, "paths": ["/v1beta/models"]})
    timeout = aiohttp.ClientTimeout(total=0.2)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        with pytest.raises(TimeoutError):
            await _get(http, fake, "gemini")
