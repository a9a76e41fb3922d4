"""`models.SLUG` fields the file leaves out come from the bundled catalog; the file always wins."""

from __future__ import annotations

import pytest

from routecar.config.loader import ConfigError, parse_config
from routecar.config.model import Price
from routecar.config.model_catalog import catalog_defaults

PROVIDERS = """
providers:
  openai: {type: openai, base_url: "http://127.0.0.1:1/v1"}
  anthropic: {type: anthropic, base_url: "http://127.0.0.1:2"}
"""


def models(body: str):
    return parse_config(PROVIDERS + "models:\n" + body, env={}).models


def test_a_known_slug_gets_every_field_from_the_catalog():
    m = models("  gpt-4o-mini: {deployments: [{provider: openai}]}\n")["gpt-4o-mini"]
    assert m.price == Price(0.15, 0.60, 0.075)
    assert (m.context_window, m.max_output_tokens, m.quality) == (128000, 16384, 0.62)
    assert m.capabilities == frozenset({"chat", "tools", "vision", "json_schema", "streaming"})


def test_an_unknown_slug_is_found_by_its_dated_upstream_name():
    m = models("  cheap-claude: {deployments: [{provider: anthropic, model: claude-3-5-haiku-20241022}]}\n")
    found = m["cheap-claude"]
    assert found.price == Price(0.80, 4.00, 0.08, 1.0) and found.context_window == 200000
    assert found.capabilities == frozenset({"chat", "tools", "streaming"})


def test_explicit_values_win_field_by_field():
    m = models("""  gpt-4o-mini:
    price: {input: 1, output: 2}
    context_window: 8000
    quality: 0.1
    capabilities: [chat]
    deployments: [{provider: openai}]
""")["gpt-4o-mini"]
    assert m.price == Price(1.0, 2.0, None)  # a written price block is taken as written
    assert m.context_window == 8000
    assert m.max_output_tokens == 8000  # the catalog's 16384 is capped by the window the file set
    assert (m.quality, m.capabilities) == (0.1, frozenset({"chat"}))


def test_catalog_embeddings_models_are_embeddings_models():
    m = models("  emb: {deployments: [{provider: openai, model: text-embedding-3-small}]}\n")["emb"]
    assert m.is_embedding and m.price.input == 0.02 and m.context_window == 8191


def test_a_model_the_catalog_does_not_know_keeps_plain_defaults():
    m = models("  mine: {deployments: [{provider: openai, model: something-private}]}\n")["mine"]
    assert catalog_defaults("mine", ["something-private"]) == {}
    assert m.price == Price() and m.context_window is None and m.quality is None
    assert m.capabilities == frozenset({"chat", "tools", "streaming"})


def test_invalid_explicit_values_are_still_errors():
    with pytest.raises(ConfigError) as exc:
        models("  gpt-4o-mini: {context_window: 0, deployments: [{provider: openai}]}\n")
    assert any(e.startswith("models.gpt-4o-mini.context_window") for e in exc.value.errors)
