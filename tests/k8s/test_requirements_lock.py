"""requirements.lock, which the Dockerfile installs with --require-hashes, keeps up with pyproject.toml.

The image installs the lock with --no-deps, so a runtime dependency added to pyproject.toml but
not re-locked would be silently missing from the image until something imports it. The drift
is caught here, offline.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes), from the pip-compile output."""
    pins: dict[str, tuple[str, int]] = {}
    current = ""
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", line)
        if pin:
            current = canonical(pin.group(1))
            pins[current] = (pin.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, count = pins[current]
            pins[current] = (version, count + 1)
    return pins


def names(requirements: list[str]) -> set[str]:
    found = set()
    for requirement in requirements:
        match = _NAME.match(requirement.strip())
        assert match, requirement
        found.add(canonical(match.group(1)))
    return found


def project() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def test_every_runtime_dependency_is_pinned_with_hashes() -> None:
    wanted = names(project()["dependencies"])
    pins = locked()
    assert wanted <= pins.keys(), f"re-lock requirements.lock (see its header): missing {sorted(wanted - pins.keys())}"
    for name, (version, hashes) in pins.items():
        assert hashes >= 1, f"{name}=={version} has no --hash"


def test_lock_holds_no_development_dependencies() -> None:
    assert not names(project()["optional-dependencies"]["dev"]) & locked().keys()
