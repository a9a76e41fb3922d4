"""The chart's `telemetry` values: rendered into sidecar.yaml, collector headers from a Secret,
and the dashboard's telemetry panels (helm/routecar; helm from .ci-tools, like test_chart_render)."""

from __future__ import annotations

import json

import pytest
import yaml

from routecar.config import parse_config

from .test_chart_render import (CHART, CI_VALUES, FAKE_ENV, app_chart, helm, one, pod_spec, render,  # noqa: F401
                                render_chart, routecar_container, sidecar_yaml, walk)

pytestmark = pytest.mark.skipif(
    not (CHART.parent.parent / ".ci-tools" / "bin" / "helm").is_file(),
    reason="helm is not installed in .ci-tools/: run `bash .ci/k8s-checks` once (it fetches it from PyPI)",
)

HEADER_ENV = {"ROUTECAR_OTLP_HEADER_AUTHORIZATION": "Bearer t0ken", "ROUTECAR_OTLP_HEADER_X_SCOPE_ORGID": "team-a"}


def test_telemetry_is_off_by_default() -> None:
    docs = render(None)
    assert "telemetry" not in yaml.safe_load(sidecar_yaml(docs))
    config = parse_config(sidecar_yaml(docs), env=FAKE_ENV).telemetry
    assert config.otlp is None and config.route_rows == "none"


def test_the_collector_and_its_headers_come_from_values_and_the_secret() -> None:
    assert "telemetry-values.yaml" in CI_VALUES
    docs = render("telemetry-values.yaml")
    text = sidecar_yaml(docs)
    assert yaml.safe_load(text)["telemetry"] == {
        "otlp": {"endpoint": "http://otel-collector.observability:4318",
                 "headers": {"authorization": "${ROUTECAR_OTLP_HEADER_AUTHORIZATION}",
                             "x-scope-orgid": "${ROUTECAR_OTLP_HEADER_X_SCOPE_ORGID}"},
                 "sample_ratio": 0.25, "timeout": "2s"},
        "route_rows": "otlp_logs",
    }
    env = {e["name"]: e for e in routecar_container(pod_spec(docs))["env"]}
    assert env["ROUTECAR_OTLP_HEADER_AUTHORIZATION"]["valueFrom"]["secretKeyRef"] == \
        {"name": "otel-auth", "key": "authorization"}
    assert env["ROUTECAR_OTLP_HEADER_X_SCOPE_ORGID"]["valueFrom"]["secretKeyRef"] == \
        {"name": "otel-auth", "key": "tenant"}
    # What routecar loads: the header values from the environment, never from the ConfigMap.
    telemetry = parse_config(text, env={**FAKE_ENV, **HEADER_ENV}).telemetry
    assert telemetry.otlp is not None
    assert dict(telemetry.otlp.headers) == {"authorization": "Bearer t0ken", "x-scope-orgid": "team-a"}
    assert (telemetry.otlp.sample_ratio, telemetry.otlp.timeout, telemetry.route_rows) == (0.25, 2.0, "otlp_logs")
    assert not any("t0ken" in str(value) for doc in docs for _, value in walk(doc))


def test_defaults_with_only_an_endpoint_render_a_loadable_config() -> None:
    docs = render_chart(CHART, "--set", "telemetry.otlp.enabled=true",
                        "--set", "telemetry.otlp.endpoint=http://collector:4318", "--set", "example.enabled=true")
    telemetry = parse_config(sidecar_yaml(docs), env=FAKE_ENV).telemetry
    assert telemetry.otlp is not None
    assert (telemetry.otlp.endpoint, dict(telemetry.otlp.headers), telemetry.otlp.sample_ratio) == \
        ("http://collector:4318", {}, 1.0)
    assert not [e for e in routecar_container(pod_spec(docs))["env"] if e["name"].startswith("ROUTECAR_OTLP")]


def test_stdout_rows_need_no_collector() -> None:
    docs = render_chart(CHART, "--set", "telemetry.routeRows=stdout")
    assert yaml.safe_load(sidecar_yaml(docs))["telemetry"] == {"route_rows": "stdout"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "config.telemetry.route_rows=stdout"], "do not set config.telemetry"),
        (["--set", "telemetry.otlp.enabled=true"], "telemetry/otlp/endpoint"),
        (["--set", "telemetry.routeRows=otlp_logs"], "otlp_logs needs telemetry.otlp.enabled"),
        (["--set", "telemetry.routeRows=loki"], "telemetry/routeRows"),
        (["--set", "telemetry.otlp.sampleRatio=2"], "telemetry/otlp/sampleRatio"),
        (["--set", "telemetry.otlp.endpoint=collector:4318"], "telemetry/otlp/endpoint"),
        (["--set", "telemetry.otlp.enabled=true", "--set", "telemetry.otlp.endpoint=http://c:4318",
          "--set", "telemetry.otlp.headersSecret.headers.authorization=auth"],
         "telemetry.otlp.headersSecret.name is required"),
        (["--set", "telemetry.otlp.enabled=true", "--set", "telemetry.otlp.endpoint=http://c:4318",
          "--set", "telemetry.otlp.headersSecret.name=s", "--set", "telemetry.otlp.headersSecret.headers.authorization=a",
          "--set", "example.enabled=true", "--set", "extraEnv[0].name=ROUTECAR_OTLP_HEADER_AUTHORIZATION",
          "--set", "extraEnv[0].value=x"], "extraEnv must not set ROUTECAR_OTLP_HEADER_AUTHORIZATION"),
    ],
)
def test_bad_telemetry_values_are_refused_with_a_clear_message(args: list[str], message: str) -> None:
    done = helm("template", "rc", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr


def test_the_dashboard_charts_telemetry_and_links_traces() -> None:
    model = json.loads((CHART / "dashboards" / "routecar.json").read_text())
    exprs = " ".join(t.get("expr", "") for p in model["panels"] for t in p["targets"])
    assert "routecar_telemetry_exported_total" in exprs and "routecar_telemetry_queue_depth" in exprs
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["tempo"]["type"] == "datasource" and variables["tempo"]["query"] == "tempo"
    traces = [p for p in model["panels"] if p["datasource"]["type"] == "tempo"]
    assert traces and all(t["queryType"] == "traceql" and t["tableType"] == "traces"
                          for p in traces for t in p["targets"])
    assert any("routecar.request_id" in t["query"] and "$request_id" in t["query"].replace("{", "").replace("}", "")
               for p in traces for t in p["targets"])
    # Panels do not overlap on the grid.
    cells = set()
    for p in model["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, p["title"]
                cells.add((x, y))


def test_the_chart_readme_documents_every_telemetry_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())["telemetry"]
    for key in [*values, *values["otlp"], *values["otlp"]["headersSecret"]]:
        assert key in readme, key
    assert "kubectl create secret generic" in readme and "ROUTECAR_OTLP_HEADER_" in readme


def test_app_chart_gets_telemetry_through_the_subchart_values(app_chart) -> None:  # noqa: ANN001, F811
    docs = render_chart(app_chart, "--set", "routecar.telemetry.otlp.enabled=true",
                        "--set", "routecar.telemetry.otlp.endpoint=http://collector:4318",
                        "--set", "routecar.telemetry.otlp.headersSecret.name=otel",
                        "--set", "routecar.telemetry.otlp.headersSecret.headers.authorization=token")
    sidecar = routecar_container(one(docs, "Deployment", "-myapp")["spec"]["template"]["spec"])
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["ROUTECAR_OTLP_HEADER_AUTHORIZATION"]["valueFrom"]["secretKeyRef"] == {"name": "otel", "key": "token"}
    configmap = one(docs, "ConfigMap", "-routecar")
    assert yaml.safe_load(configmap["data"]["sidecar.yaml"])["telemetry"]["otlp"]["headers"] == \
        {"authorization": "${ROUTECAR_OTLP_HEADER_AUTHORIZATION}"}
