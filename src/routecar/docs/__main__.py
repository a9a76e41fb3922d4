"""`python -m routecar.docs [--check] [REPO]`: refresh (or check) the generated tables of `docs/`."""

from __future__ import annotations

import sys
from pathlib import Path

from . import REGENERATE
from .pages import stale, write


def _default_root() -> Path:
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    rest = [a for a in args if a != "--check"]
    root = Path(rest[0]) if rest else _default_root()
    if check:
        old = stale(root)
        for path in old:
            print(f"{path}: stale; regenerate with `{REGENERATE}`")
        return 1 if old else 0
    for path, changed in write(root):
        print(f"{path}: {'written' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
