"""docs/configuration.md, generated from the definitions the loader validates with.

`python -m routecar.config.docs [REPO]` rewrites both generated files of the repository:
docs/configuration.md and schema/sidecar.schema.json (REPO defaults to the checkout this
module lives in, else the working directory). `routecar schema --markdown` prints the page.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from .alternatives import Either, Tagged
from .definitions import SIDECAR
from .kinds import Kind
from .schema import SCHEMA_FILE, render_json
from .shapes import UNSET, Key, List, Map, Object

DOCS_FILE = "docs/configuration.md"
REGENERATE = "python -m routecar.config.docs"

_INTRO = f"""\
# Configuration reference: `sidecar.yaml`

<!-- Generated from src/routecar/config by `{REGENERATE}`; do not edit by hand. -->

Every key routecar reads, with its type, default and meaning. The same definitions drive the
loader (`routecar check`), this page and the JSON Schema (`routecar schema`, committed as
[`{SCHEMA_FILE}`](../{SCHEMA_FILE})). For completion and checks in editors that use
yaml-language-server (VS Code's YAML extension, among others), start the file with:

```yaml
# yaml-language-server: $schema=./{SCHEMA_FILE}
```

Conventions:

- **Unknown keys are errors**, reported with their full key path (and the closest known key).
  `routecar check -c sidecar.yaml` lists every error at once.
- **Durations** are seconds (`30`, `0.5`) or strings with units: `500ms`, `30s`, `5m`, `1h`,
  `7d`, `1h30m`. **Sizes** are bytes or strings with units: `512KB` (1000 bytes each), `8MiB`
  (1024). **Rates** are fractions between 0 and 1 (`0.05`), or percentages (`5%`).
- Any string value may use `${{VAR}}` or `${{VAR:-default}}`; it is resolved after the YAML is
  parsed, so a number may come from the environment too (`max_connections: "${{CONNS:-8}}"`).
  `$${{` is a literal `${{`.
- An empty value (YAML null) means "not set": the default applies. Where null has a meaning of its
  own, the description says so.
- In key paths, `NAME`, `SLUG`, `HEADER` and `LABEL` stand for names you choose, and `[]` for
  every item of a list.

The file is reloaded when it changes on disk and on SIGHUP; a file with any error is refused
whole, and the previous configuration keeps serving.
"""


class Row(NamedTuple):
    path: str
    type: str
    default: str
    doc: str


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _yaml(value: Any) -> str:
    """A default as it would be written in sidecar.yaml (flow style)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _default(key: Key) -> str:
    if key.required:
        return "**required**"
    if key.default is UNSET or key.default is None:
        return ""
    return f"`{_yaml(key.kind.show(key.default))}`"


def _rows(key: Key, path: str, note: str = "") -> Iterator[Row]:
    yield Row(path, key.kind.type_name() + note, _default(key), key.doc)
    yield from _inside(key.kind, path)


def _inside(kind: Kind, path: str) -> Iterator[Row]:
    """Rows for the keys within a value of `kind` at `path`."""
    if isinstance(kind, Object):
        for key in kind.keys:
            yield from _rows(key, f"{path}.{key.name}")
    elif isinstance(kind, Tagged):
        for key in kind.common:
            yield from _rows(key, f"{path}.{key.name}")
        # A key several variants share is one row, naming them all.
        seen: dict[int, list[str]] = {}
        keys: dict[int, Key] = {}
        for variant, extra in kind.variants.items():
            for key in extra:
                seen.setdefault(id(key), []).append(variant)
                keys[id(key)] = key
        for ident, key in keys.items():
            note = f" ({kind.tag.name}: {', '.join(seen[ident])})"
            yield from _rows(key, f"{path}.{key.name}", note)
    elif isinstance(kind, Map):
        # A map of scalars or lists is one row: its type says what each entry holds.
        yield from _inside(kind.of, f"{path}.{kind.placeholder}")
    elif isinstance(kind, List):
        yield from _inside(kind.of, f"{path}[]")
    elif isinstance(kind, Either):
        for branch in kind.kinds:
            yield from _inside(branch, path)


def rows() -> list[Row]:
    """Every key path of sidecar.yaml, in the order of the docs."""
    return [row for key in SIDECAR.keys for row in _rows(key, key.name)]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _section(key: Key) -> str:
    lines = [f"## `{key.name}`", "", _sentence(key.doc), ""]
    lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for row in _rows(key, key.name):
        lines.append(f"| `{row.path}` | {_cell(row.type)} | {_cell(row.default)} | {_cell(row.doc)} |")
    example = getattr(key.kind, "example", None)
    if example:
        lines += ["", "Example:", "", "```yaml", example.rstrip("\n"), "```"]
    return "\n".join(lines) + "\n"


def render_markdown() -> str:
    """docs/configuration.md as committed."""
    toc = "\n".join(f"- [`{key.name}`](#{key.name}): {key.doc}" for key in SIDECAR.keys)
    return "\n".join([_INTRO, "Sections:", "", toc, "", *(_section(key) for key in SIDECAR.keys)]).rstrip("\n") + "\n"


def generated_files() -> dict[str, str]:
    """Repository path -> the text the generator writes there."""
    return {SCHEMA_FILE: render_json(), DOCS_FILE: render_markdown()}


def _default_root() -> Path:
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else _default_root()
    for relative, text in generated_files().items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text(encoding="utf-8") if path.is_file() else None
        if old != text:
            path.write_text(text, encoding="utf-8")
        print(f"{path}: {'unchanged' if old == text else 'written'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

