"""Finding and refreshing the generated blocks of the hand-written pages under `docs/`.

A block is

    <!-- generated:NAME -->
    ...table rendered by tables.BLOCKS[NAME]...
    <!-- end generated -->

Everything outside blocks is left byte for byte as it is.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import REGENERATE
from .tables import BLOCKS

DOCS_DIR = "docs"
_BLOCK = re.compile(r"(<!-- generated:([a-z0-9-]+) -->\n)(.*?)(<!-- end generated -->)", re.S)
_NOTE = (f"<!-- Rendered from the code by `{REGENERATE}`; edit the code (or routecar/docs/tables.py), "
         "not this table. -->")


class UnknownBlock(Exception):
    pass


def refresh(text: str) -> str:
    """`text` with every generated block rendered anew."""

    def render(match: re.Match[str]) -> str:
        name = match.group(2)
        renderer = BLOCKS.get(name)
        if renderer is None:
            raise UnknownBlock(f"unknown generated block '{name}' (known: {', '.join(BLOCKS)})")
        return f"{match.group(1)}{_NOTE}\n\n{renderer()}\n\n{match.group(4)}"

    return _BLOCK.sub(render, text)


def block_names(text: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(text)]


def pages(root: Path) -> dict[Path, str]:
    """Every page under `root/docs` with a generated block -> its current text."""
    out = {}
    for path in sorted((root / DOCS_DIR).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        if block_names(text):
            out[path] = text
    return out


def stale(root: Path) -> list[Path]:
    """Pages whose generated blocks differ from what the code renders now."""
    return [path for path, text in pages(root).items() if refresh(text) != text]


def write(root: Path) -> list[tuple[Path, bool]]:
    """Refresh every page; (path, changed) for each page with blocks."""
    done = []
    for path, text in pages(root).items():
        new = refresh(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
        done.append((path, new != text))
    return done
