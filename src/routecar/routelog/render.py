"""Aligned text output for the route log commands: coloured through rich on a terminal, plain
otherwise (pipes, files, `grep`). rich is imported only when colour is on."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Container, Optional, Sequence, TextIO

# A cell is its text and a rich style name (or None for the default look).
Cell = tuple[str, Optional[str]]
GAP = "  "
ELLIPSIS = "…"


def output_width(stream: TextIO) -> int | None:
    """The columns to fit: $COLUMNS when set, else the terminal's; None (no limit) when the
    output is a pipe or a file, so `grep` and saved files get whole rows."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return shutil.get_terminal_size().columns
    return None


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, its end replaced by an ellipsis when it is cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - 1)] + ELLIPSIS if width > 0 else ""


@dataclass(frozen=True)
class Column:
    """One column of a table: its key in a row's cells, its header, alignment, and how far it
    may be cut when the table is too wide (None: never; ids and numbers must stay whole)."""

    key: str
    header: str
    right: bool = False
    min_width: int | None = None


def row_width(widths: Sequence[int]) -> int:
    return sum(widths) + len(GAP) * max(0, len(widths) - 1)


def cut_to_fit(columns: Sequence[Column], widths: Sequence[int], limit: int,
               only: Container[str] | None = None) -> list[int] | None:
    """`widths` with the cuttable columns (of them, those whose key is in `only`, when given)
    narrowed, the rightmost first (the least important by convention: free text ends a row),
    until the row fits in `limit`; None when it cannot fit with all of them at their minimum."""
    out = list(widths)
    excess = row_width(out) - limit
    for i in reversed(range(len(columns))):
        col = columns[i]
        if excess <= 0:
            break
        if only is not None and col.key not in only:
            continue
        if col.min_width is not None and out[i] > col.min_width:
            take = min(excess, out[i] - col.min_width)
            out[i] -= take
            excess -= take
    return out if excess <= 0 else None


def fit_widths(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> list[int]:
    widths = [len(h) for h in header]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    return widths


class Printer:
    """Writes lines of cells, padded to column widths; flushes after each line so a follower
    (`logs -f | grep ...`) sees rows as they land."""

    def __init__(self, stream: TextIO | None = None, color: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        if color is None:
            isatty = getattr(self.stream, "isatty", None)
            color = bool(isatty and isatty())
        self.color = color
        self._console: Any = None
        if color:
            from rich.console import Console

            self._console = Console(
                file=self.stream, highlight=False, soft_wrap=True, force_terminal=True, markup=False
            )

    def row(self, cells: Sequence[Cell], widths: Sequence[int], right: frozenset[int] = frozenset()) -> None:
        parts: list[Cell] = []
        last = len(cells) - 1
        for i, (text, style) in enumerate(cells):
            w = widths[i] if i < len(widths) else len(text)
            padded = text.rjust(w) if i in right else (text if i == last else text.ljust(w))
            parts.append((padded, style))
        self.cells(parts, sep=GAP)

    def cells(self, parts: Sequence[Cell], sep: str = "") -> None:
        if self._console is None:
            self.stream.write(sep.join(t for t, _ in parts).rstrip() + "\n")
        else:
            from rich.text import Text

            text = Text()
            for i, (t, style) in enumerate(parts):
                if i:
                    text.append(sep)
                text.append(t, style=style or "")
            text.rstrip()
            self._console.print(text)
        self.stream.flush()

    def line(self, text: str = "", style: str | None = None) -> None:
        self.cells([(text, style)])


def status_style(status: int | None) -> str | None:
    if not status:
        return "dim"
    if status < 400:
        return "green"
    if status == 429 or status < 500:
        return "yellow"
    return "red"


def outcome_style(outcome: str | None) -> str | None:
    if outcome == "ok":
        return "green"
    if outcome in ("rate_limited", "budget_rejected", "bad_request"):
        return "yellow"
    if outcome == "client_cancelled":
        return "dim"
    return "bold red"
