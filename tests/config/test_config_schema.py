"""The JSON Schema of sidecar.yaml and the configuration docs: generated from the definitions,
committed current, accepting every config routecar ships or documents, and refusing what the
loader refuses."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from routecar import cli
from routecar.config import parse_config
from routecar.config.definitions import SIDECAR
from routecar.config.docs import REGENERATE, generated_files, render_markdown, rows
from routecar.config.schema import render_json

from .documents import DEMO, DEMO_ENV, REPO, SHIPPED, as_yaml, complete, schema_errors
from .test_config_valid import ENV, SPEC_MINIMAL, merged_spec


@pytest.mark.parametrize("relative", sorted(generated_files()))
def test_committed_files_are_current(relative: str) -> None:
    committed = REPO / relative
    expected = generated_files()[relative]
    assert committed.is_file(), f"{relative} is missing; regenerate it with `{REGENERATE}`"
    assert committed.read_text(encoding="utf-8") == expected, (
        f"{relative} is stale: the config definitions changed. Regenerate it with `{REGENERATE}` "
        "(or `routecar schema > schema/sidecar.schema.json` and "
        "`routecar schema --markdown > docs/configuration.md`) and commit the result."
    )


def test_routecar_schema_prints_the_schema_and_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == render_json()
    assert cli.main(["schema", "--markdown"]) == 0
    assert capsys.readouterr().out == render_markdown()


def test_shipped_configs_name_the_committed_schema() -> None:
    for path in (SHIPPED, DEMO):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        prefix = "# yaml-language-server: $schema="
        assert first.startswith(prefix), path
        assert (path.parent / first[len(prefix):]).resolve() == REPO / "schema" / "sidecar.schema.json"


def _examples() -> dict[str, str]:
    return {name: key.kind.example for name, key in SIDECAR.fixed.items() if getattr(key.kind, "example", None)}


GOOD = {
    "shipped sidecar.yaml": (SHIPPED.read_text(encoding="utf-8"), {}),
    "demo config": (DEMO.read_text(encoding="utf-8"), DEMO_ENV),
    "SPEC §4 minimal": (SPEC_MINIMAL, ENV),
    "SPEC §4 with routing features": (merged_spec(), ENV),
    "every key set": (as_yaml(complete()), {}),
    "every section example of the docs": ("".join(_examples().values()),
                                          {**ENV, "REDIS_URL": "redis://127.0.0.1:6379/0", "OTEL_TOKEN": "t"}),
    "null sections and values": (
        "server:\nroutes:\nclassifiers:\nresilience: {retry: , circuit_breaker: {window: }}\nroute_log:\n"
        "providers: {p: {type: openai, base_url: 'http://127.0.0.1:9', headers: }}\n"
        "models: {m: {deployments: [{provider: p}], context_window: }}\n", {}),
    "values from the environment": (
        "server: {listen: '127.0.0.1:${PORT:-7300}', max_queue: '${MAXQ:-12}', drain_timeout: '${DRAIN:-5s}'}\n"
        "providers: {p: {type: openai, base_url: '${BASE:-http://127.0.0.1:1}', max_connections: '${N:-8}',"
        " drop_unsupported_params: '${DROP:-true}'}}\n"
        "models: {m: {deployments: [{provider: p, weight: '${W:-2.5}'}]}}\n", {}),
    "short forms": (
        "providers: {p: {type: openai, base_url: 'http://127.0.0.1:1'}}\n"
        "models: {m: {deployments: [{provider: p}]}, n: {deployments: [{provider: p, model: x}]}}\n"
        "routes: {r: {strategy: weighted, candidates: {m: 1, n: 0}, cache: {exact: true}}}\n"
        "route_log: {retention: 30d}\n", {}),
}


@pytest.mark.parametrize("name", list(GOOD))
def test_the_schema_accepts_every_config_the_loader_accepts(name: str) -> None:
    text, env = GOOD[name]
    parse_config(text, env=env)
    assert schema_errors(yaml.safe_load(text)) == []


def test_the_section_examples_make_one_config_covering_every_section() -> None:
    assert set(_examples()) == set(SIDECAR.fixed)


BAD = [
    ({"servers": {}}, "servers", "", "'servers' was unexpected"),
    ({"server": {"lisen": "127.0.0.1:1"}}, "server.lisen", "server", "'lisen' was unexpected"),
    ({"server": {"max_queue": "lots"}}, "server.max_queue", "server.max_queue", ""),
    ({"server": {"drain_timeout": "soon"}}, "server.drain_timeout", "server.drain_timeout", ""),
    ({"server": {"drain_timeout": "5 minutes"}}, "server.drain_timeout", "server.drain_timeout", ""),
    ({"resilience": {"circuit_breaker": {"open_for": "0s"}}}, "resilience.circuit_breaker.open_for",
     "resilience.circuit_breaker.open_for", ""),
    ({"resilience": {"circuit_breaker": {"failure_rate": 1.5}}}, "resilience.circuit_breaker.failure_rate",
     "resilience.circuit_breaker.failure_rate", ""),
    ({"route_log": {"retention": {"rows": 5}}}, "route_log.retention.rows", "route_log.retention", "'rows'"),
]


@pytest.mark.parametrize(("patch", "loader_path", "schema_path", "schema_says"), BAD,
                         ids=[case[1] for case in BAD])
def test_the_schema_refuses_unknown_keys_wrong_types_and_bad_durations(
    patch: dict[str, object], loader_path: str, schema_path: str, schema_says: str
) -> None:
    doc = yaml.safe_load(SPEC_MINIMAL)
    doc.update(copy.deepcopy(patch))
    errors = schema_errors(doc)
    assert errors, "the schema accepted it"
    assert errors[0].startswith(schema_path + ":") and schema_says in errors[0], errors
    from routecar.config import ConfigError

    with pytest.raises(ConfigError) as exc:
        parse_config(as_yaml(doc), env=ENV)
    assert any(e.startswith(loader_path + ":") for e in exc.value.errors), exc.value.errors


def test_the_docs_list_every_key_with_its_type_default_and_description() -> None:
    page = render_markdown()
    for row in rows():
        assert f"| `{row.path}` |" in page
        assert row.type and row.doc, row
    for path, default in [("server.listen", "`127.0.0.1:7300`"), ("server.max_body_bytes", "`8MiB`"),
                          ("resilience.circuit_breaker.open_for", "`30s`"),
                          ("resilience.retry.retry_on", "`[429, 5xx, timeout, connect]`"),
                          ("providers.NAME.base_url", "**required**")]:
        assert any(r.path == path and r.default == default for r in rows()), path
    for name in SIDECAR.fixed:
        assert f"\n## `{name}`\n" in page


def test_schema_file_is_what_routecar_schema_prints() -> None:
    assert Path(REPO / "schema" / "sidecar.schema.json").read_text(encoding="utf-8") == render_json()
