"""The docs hold together: every `docs/...md` a comment or page cites exists, every relative
link (and its #anchor) in docs/*.md and README.md resolves, no text cites the SPEC (a file that
is not in the repository), and every error code the code can answer is in the error table."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SRC = REPO / "src" / "routecar"
PAGES = sorted(DOCS.glob("*.md")) + [REPO / "README.md"]

_CITED = re.compile(r"\bdocs/[A-Za-z0-9_.-]+\.md\b")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"```.*?```", re.S)


def _texts_citing_docs() -> list[Path]:
    files = [p for p in SRC.rglob("*.py")] + PAGES + sorted((REPO / "helm").rglob("*.yaml"))
    files += sorted((REPO / "helm").rglob("*.md"))
    return [p for p in files if p.is_file()]


def test_every_cited_docs_page_exists() -> None:
    missing = []
    for path in _texts_citing_docs():
        for cited in _CITED.findall(path.read_text(encoding="utf-8")):
            if not (REPO / cited).is_file():
                missing.append(f"{path.relative_to(REPO)} cites {cited}")
    assert not missing, "\n".join(missing)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading '#{anchor}' in {resolved.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}:\n" + "\n".join(broken)


_SPEC = re.compile(r"\bSPEC\b(?!_)|SPEC\.md")


def test_nothing_cites_the_spec() -> None:
    """The contract lives in docs/ now; a comment must name the page that holds it."""
    hits = []
    files = [p for p in SRC.rglob("*.py")] + [REPO / "README.md", *DOCS.glob("*.md")]
    files += [p for p in (REPO / "helm").rglob("*") if p.is_file() and p.suffix in (".yaml", ".md", ".tpl", ".txt")]
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _SPEC.search(line):
                hits.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not hits, "cite the docs/ page instead:\n" + "\n".join(hits)


# Calls that make an error answer, and the position of their `code` argument.
_CODE_ARG = {"ApiError": 2, "DispatchError": 3, "RoutingError": 2, "error_json": 2}


def _error_codes() -> dict[str, list[str]]:
    """Every literal error code passed to an error constructor in src/ -> where."""
    found: dict[str, list[str]] = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in _CODE_ARG:
                continue
            values = [kw.value for kw in node.keywords if kw.arg == "code"]
            if len(node.args) > _CODE_ARG[name]:
                values.append(node.args[_CODE_ARG[name]])
            for value in values:
                candidates = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
                for v in candidates:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str):
                        found.setdefault(v.value, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_error_code_is_in_the_error_table() -> None:
    codes = _error_codes()
    assert {"model_not_found", "budget_exceeded", "rate_limited", "draining"} <= set(codes)  # the scan works
    table = (DOCS / "http-api.md").read_text(encoding="utf-8")
    missing = [f"{code} ({', '.join(where)})" for code, where in sorted(codes.items()) if f"`{code}`" not in table]
    assert not missing, "error codes missing from docs/http-api.md's error tables:\n" + "\n".join(missing)
