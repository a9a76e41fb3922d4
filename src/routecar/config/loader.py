"""`sidecar.yaml` into one frozen, validated `Config`.

Parsing runs in three steps: YAML (syntax errors carry line and column), `${VAR}` interpolation
of string values, then each section's builder (see definitions.py), in the order their
references need: providers read resilience's breaker, models read providers, and so on. Every
builder records problems in one `Issues` list and carries on, so the SRE sees every error at
once; a config with any error is refused whole and the caller keeps serving the old one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from .classifiers_section import build_classifiers
from .definitions import SECTIONS, SIDECAR
from .errors import ConfigError, found
from .fields import Issues
from .interpolate import interpolate
from .model import Config, ModelConfig
from .models_section import build_models
from .providers_section import build_providers
from .resilience_section import build_resilience
from .route_log_section import build_route_log
from .routes import build_routes
from .server_section import build_server
from .shared_state import build_shared_state, check_shared_routes
from .telemetry_section import build_telemetry

__all__ = ["ConfigError", "load_config", "parse_config"]
_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """safe_load semantics, but a key written twice in one mapping is reported, not dropped."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            # Keys brought in by a `<<: *anchor` merge may legitimately be overridden.
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                mark = key_node.start_mark
                self.duplicates.append(f"{mark.line + 1}:{mark.column + 1}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str, source: str) -> Any:
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        # Only the problem is shown, never the offending line: it could hold a literal key.
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([f"{where}: invalid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {type(exc).__name__}"]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise ConfigError([f"{source}:{d}" for d in loader.duplicates])
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: must be a mapping of sections ({', '.join(SECTIONS)}), got {found(data)}"])
    return data


def _unused_providers(issues: Issues, providers: Mapping[str, Any], models: Mapping[str, ModelConfig]) -> None:
    used = {d.provider for m in models.values() for d in m.deployments}
    for name in providers:
        if name not in used:
            issues.warn(f"providers.{name}", "no model deployment uses this provider")


def _build(tree: dict[Any, Any], raw: bytes, source: str, env: Mapping[str, str], base_dir: Path) -> Config:
    issues = Issues()
    tree = interpolate(tree, env, issues)
    SIDECAR.check_keys(tree, "", issues)
    resilience = build_resilience(issues, tree.get("resilience"))
    providers = build_providers(issues, tree.get("providers"), base_dir, resilience, env)
    models = build_models(issues, tree.get("models"), providers)
    classifiers = build_classifiers(issues, tree.get("classifiers"), models)
    routes = build_routes(issues, tree.get("routes"), models, classifiers)
    server = build_server(issues, tree.get("server"))
    route_log = build_route_log(issues, tree.get("route_log"))
    shared_state = build_shared_state(issues, tree.get("shared_state"))
    telemetry = build_telemetry(issues, tree.get("telemetry"))
    check_shared_routes(issues, routes, tree.get("shared_state"))
    if issues.errors:
        raise ConfigError(issues.errors)
    _unused_providers(issues, providers, models)
    return Config(
        server=server,
        providers=MappingProxyType(providers),
        models=MappingProxyType(models),
        routes=MappingProxyType(routes),
        resilience=resilience,
        route_log=route_log,
        classifiers=MappingProxyType(classifiers),
        shared_state=shared_state,
        telemetry=telemetry,
        hash=hashlib.sha256(raw).hexdigest()[:12],
        source=source,
        warnings=tuple(issues.warnings),
    )


def parse_config(
    text: str,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """A validated Config from YAML text, or ConfigError listing every problem.

    `env` (default: os.environ) feeds `${VAR}` interpolation; `base_dir` (default: the current
    directory) resolves relative `api_key_file` paths. `route_log.path` is kept as written.
    """
    tree = _read_yaml(text, source)
    return _build(
        tree,
        text.encode("utf-8"),
        source,
        os.environ if env is None else env,
        Path.cwd() if base_dir is None else base_dir,
    )


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file; relative `api_key_file` paths are from its directory."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{file}: config file not found"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{file}: is a directory, not a config file"]) from None
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read config file: {exc.strerror or type(exc).__name__}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{file}: not UTF-8 text (byte {exc.start})"]) from None
    tree = _read_yaml(text, str(file))
    return _build(tree, raw, str(file), os.environ if env is None else env, file.parent)
