"""Issue 17 part A through a real `routecar serve` process: Anthropic passthrough and forwarded
headers, count_tokens, models.retrieve and the Responses API, with the real SDKs."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import anthropic
import openai

from tests.e2e.recording_upstream import Recorder
from tests.lifecycle.conftest import SidecarProcess


def serve_yaml(rec: Recorder, fake_url: str, db: Path) -> str:
    return f"""
server: {{listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}}
providers:
  ant: {{type: anthropic, base_url: '{rec.url}', api_key: sk-ant-provider}}
  fo: {{type: openai, base_url: '{fake_url}/v1', api_key: sk-o}}
  fa: {{type: anthropic, base_url: '{fake_url}', api_key: sk-a}}
  fg: {{type: gemini, base_url: '{fake_url}', api_key: sk-g}}
models:
  claude: {{deployments: [{{provider: ant, model: up-0}}]}}
  o: {{deployments: [{{provider: fo, model: up-o}}]}}
  a: {{deployments: [{{provider: fa, model: up-a}}]}}
  g: {{deployments: [{{provider: fg, model: up-g}}]}}
route_log: {{path: '{db}', flush_interval: 50ms}}
"""


async def test_issue17_through_routecar_serve(recorder, fake_factory, tmp_path):
    fp = await fake_factory("up")
    cfg = tmp_path / "sidecar.yaml"
    cfg.write_text(serve_yaml(recorder, fp.url, tmp_path / "routes.db"))
    sidecar = SidecarProcess(cfg)
    try:
        await sidecar.start()
        raw = (b'{"model":  "claude", "max_tokens": 64, "thinking": {"type": "enabled", "budget_tokens": 32},'
               b' "messages": [{"role": "user", "content": [{"type": "text", "text": "hi",'
               b' "cache_control": {"type": "ephemeral"}}]}]}')
        async with aiohttp.ClientSession() as http:
            async with http.post(sidecar.data_url + "/v1/messages", data=raw,
                                 headers={"anthropic-beta": "b1", "x-api-key": "app", "authorization": "Bearer app",
                                          "content-type": "application/json"}) as resp:
                assert resp.status == 200 and (await resp.json())["content"][0]["signature"] == "sig-abc=="
        seen = recorder.last("/v1/messages")
        assert seen.body == raw.replace(b'"claude"', b'"up-0"')
        assert seen.headers["anthropic-beta"] == "b1" and seen.headers["x-api-key"] == "sk-ant-provider"
        assert "authorization" not in seen.headers

        async with anthropic.AsyncAnthropic(base_url=sidecar.data_url, api_key="x", max_retries=0) as ant:
            counted = await ant.messages.with_raw_response.count_tokens(
                model="claude", messages=[{"role": "user", "content": "hi"}])
            assert (await counted.parse()).input_tokens == 4242
            estimated = await ant.messages.with_raw_response.count_tokens(
                model="o", messages=[{"role": "user", "content": "hi"}])
            assert estimated.headers["x-routecar-token-count"] == "estimated"

        async with openai.AsyncOpenAI(base_url=sidecar.data_url + "/v1", api_key="x", max_retries=0) as oai:
            assert (await oai.models.retrieve("claude")).id == "claude"
            for slug in ("o", "a", "g"):
                resp = await oai.responses.create(model=slug, input="hello there")
                assert resp.model == slug and "hello there" in resp.output_text
                stream = await oai.responses.create(model=slug, input="hello there", stream=True)
                events = [e async for e in stream]
                assert events[-1].type == "response.completed"
                assert events[-1].response.output_text == resp.output_text
    finally:
        await sidecar.kill()
