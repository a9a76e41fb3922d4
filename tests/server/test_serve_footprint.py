"""What `routecar serve` keeps out of memory: modules it does not need are never imported, and
the content stage (classifiers, caches) loads only for a config that uses it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from routecar.config.loader import parse_config
from routecar.stages.build import uses_content

# What the serve command imports before it listens: cli.main builds the parser for `serve`
# only, then cmd_serve loads logging, the config and the server.
SERVE_IMPORTS = """
import json, sys
import routecar.cli as cli
cli.build_parser("serve").parse_args(["serve", "-c", "x.yaml"])
import routecar.observability.jsonlog, routecar.config.loader, routecar.server.app
print(json.dumps(sorted(sys.modules)))
"""
# Needed only by other commands, by configs that classify or cache, or by nothing at run time.
NOT_FOR_SERVING = ("redis", "routecar.content", "routecar.stages.classify", "routecar.stages.cache", "routecar.fake", "routecar.routelog.cli_",
                   "routecar.routelog.reader", "routecar.routelog.stats", "routecar.demo", "rich",
                   "importlib.metadata")


def test_serve_imports_nothing_it_does_not_need() -> None:
    out = subprocess.run([sys.executable, "-c", SERVE_IMPORTS], capture_output=True, text=True, timeout=60,
                         check=True).stdout
    loaded = json.loads(out)
    assert "routecar.server.app" in loaded
    assert [m for m in loaded if m.startswith(NOT_FOR_SERVING)] == []


PLAIN = """
providers:
  fake: {{type: openai, base_url: '{fake}', timeouts: {{connect: 1s, total: 5s}}}}
models:
  m: {{price: {{input: 1.0, output: 2.0}}, deployments: [{{provider: fake, model: m-up}}]}}
  embed: {{capabilities: [embeddings], price: {{input: 0.02, output: 0}}, deployments: [{{provider: fake, model: emb}}]}}
route_log: {{path: "{db}", flush_interval: 50ms}}
routes:
  r: {{strategy: ordered, candidates: [m]{cache}}}
"""
EXACT = ", cache: {exact: {ttl: 10m}}"
CLASSIFIERS = """
classifiers:
  topic: {type: embedding, model: embed, labels: {billing: [invoice]}}
"""


def test_uses_content_when_a_route_caches_or_classifiers_exist() -> None:
    def cfg(cache: str = "", extra: str = "") -> Any:
        return parse_config(PLAIN.format(fake="http://127.0.0.1:9/v1", db="x.db", cache=cache) + extra)

    assert not uses_content(cfg())
    assert uses_content(cfg(EXACT))
    assert uses_content(cfg(extra=CLASSIFIERS))


async def ask(sc: Any, text: str) -> str:
    body = {"model": "r", "temperature": 0, "messages": [{"role": "user", "content": text}]}
    async with aiohttp.ClientSession() as s, s.post(sc.data_url + "/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        return resp.headers.get("x-routecar-cache", "")


async def test_a_config_without_content_passes_the_content_stage_by(fake_factory: Any, sidecar_factory: Any,
                                                                    tmp_path: Path) -> None:
    fp = await fake_factory("fake")
    path = tmp_path / "sidecar.yaml"
    db = str(tmp_path / "routes.db")
    path.write_text(PLAIN.format(fake=fp.openai_base, db=db, cache=EXACT))
    sc = await sidecar_factory(path.read_text(), config_path=str(path))
    assert sc.runtime.generation.pipeline.stage("cache") is not None
    assert [await ask(sc, "hello"), await ask(sc, "hello")] == ["miss", "hit"]

    path.write_text(PLAIN.format(fake=fp.openai_base, db=db, cache=""))
    assert await sc.reload("test")
    assert sc.runtime.generation.pipeline.stages == ()
    assert await ask(sc, "hello") == "", "no cache header: the request never reached the content stage"
    # The reload moved the content state on, as a request on the new config used to: a cache
    # that a config in between did not have starts empty again.
    path.write_text(PLAIN.format(fake=fp.openai_base, db=db, cache=EXACT))
    assert await sc.reload("test")
    assert await ask(sc, "hello") == "miss"
