"""routecar.__version__ (what routecar_build_info reports) is the version pyproject.toml builds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import routecar
from routecar.observability.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]


def test_version_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert routecar.__version__ == project["version"]


def test_build_info_reports_the_package_version() -> None:
    text = Metrics(process_metrics=False).render()[0].decode()
    assert f'routecar_build_info{{version="{routecar.__version__}"}} 1.0' in text
