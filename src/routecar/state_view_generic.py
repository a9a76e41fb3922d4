"""Drawing pieces of `routecar state` (state_view.py), and the generic drawing of a /state
section that renderer does not know: a newer sidecar's (say `shared_state`) still reads as
labelled values and tables, never as a line of raw JSON.

Every value goes in as a rich `Text`, never as a markup string: a deployment or tag named
`[red]` must print as itself.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

LABEL_WIDTH = 13
# A mapping of mappings becomes a table while it has at most this many columns; wider, it is
# drawn as one block per entry, which stays readable at 80 columns.
MAX_TABLE_COLUMNS = 5


def fmt_value(value: Any) -> str:
    """A scalar as a person reads it: never `None`, `True` or a float's 17 digits."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value) or "-"
    if isinstance(value, dict):
        return " · ".join(f"{k} {fmt_value(v)}" for k, v in value.items()) or "-"
    return str(value)


def text(value: str, style: str | None = None) -> Any:
    from rich.text import Text

    return Text(value, style=style or "")


def label(value: str, style: str | None = None) -> Any:
    """A cell that folds (breaks inside a word) when its column is too narrow, instead of
    being cut to `clau…`: names have no spaces to wrap at."""
    cell = text(value, style)
    cell.overflow = "fold"
    return cell


def section(title: str) -> Any:
    from rich.rule import Rule

    return Rule(text(title, "bold"), align="left", style="dim")


def kv_grid(rows: Iterable[tuple[str, Any]]) -> Any:
    """Labelled lines: the label column fixed, the value wrapping under itself."""
    from rich.table import Table

    rows = list(rows)
    grid = Table.grid(padding=(0, 1))
    # As wide as the longest label, so none is cut; at least LABEL_WIDTH, so the blocks of
    # one screen line up.
    grid.add_column(width=max([LABEL_WIDTH] + [len(name) + 2 for name, _ in rows]), no_wrap=True, style="dim")
    grid.add_column(overflow="fold")
    for name, value in rows:
        grid.add_row(text("  " + name), value if not isinstance(value, str) else label(value))
    return grid


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Any:
    """A light table whose columns fold rather than cut what does not fit."""
    from rich import box
    from rich.table import Table

    out = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False,
                padding=(0, 1), collapse_padding=True)
    for header in headers:
        out.add_column(header, overflow="fold")
    for row in rows:
        out.add_row(*(cell if not isinstance(cell, str) else label(cell) for cell in row))
    return out


def unknown_section(key: str, value: Any) -> list[Any]:
    """A section of /state this renderer does not know, drawn from its shape alone."""
    parts: list[Any] = [section(words(key))]
    if isinstance(value, dict) and value and _is_table(value):
        parts.append(_mapping_table(value))
    elif isinstance(value, dict) and value:
        parts.extend(_nested(value))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        columns = sorted({k for row in value for k in row})
        if len(columns) <= MAX_TABLE_COLUMNS:
            parts.append(table([words(c) for c in columns], [[fmt_value(row.get(c)) for c in columns] for row in value]))
        else:
            for i, row in enumerate(value, 1):
                parts.append(text(f"  #{i}", "bold"))
                parts.append(kv_grid((words(k), fmt_value(v)) for k, v in row.items()))
    else:
        parts.append(kv_grid([("value", fmt_value(value))]))
    return parts


def words(key: str) -> str:
    """A JSON key as a label: `last_error` reads as `last error`."""
    return str(key).replace("_", " ")


def _is_table(value: dict[str, Any]) -> bool:
    """Entries that are all flat mappings with few keys in all: rows of one table."""
    if not all(isinstance(v, dict) and v and not any(isinstance(x, (dict, list)) for x in v.values())
               for v in value.values()):
        return False
    return len({k for row in value.values() for k in row}) <= MAX_TABLE_COLUMNS


def _mapping_table(value: dict[str, Any]) -> Any:
    columns = sorted({k for row in value.values() for k in row})
    rows = [[label(str(name), "cyan")] + [fmt_value(row.get(c)) for c in columns] for name, row in value.items()]
    return table([""] + [words(c) for c in columns], rows)


def _nested(value: dict[str, Any]) -> list[Any]:
    """Flat values as labelled lines; each nested mapping as a titled block (or table) of its own."""
    flat = [(words(k), fmt_value(v)) for k, v in value.items() if not isinstance(v, dict) or not v]
    parts: list[Any] = [kv_grid(flat)] if flat else []
    for k, v in value.items():
        if isinstance(v, dict) and v:
            parts.append(text(f"  {words(k)}", "bold"))
            if _is_table(v):
                parts.append(_mapping_table(v))
            else:
                parts.append(kv_grid((f"  {words(name)}", fmt_value(inner)) for name, inner in v.items()))
    return parts
