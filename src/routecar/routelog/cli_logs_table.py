"""The table `routecar logs` prints: one line per request, fitted to the terminal's width.

When the whole table is wider than the terminal, it gives up detail in a fixed order (STEPS:
the columns an SRE scanning a tail needs least go first, then shorter forms of the time and
the model), cutting the free-text DETAIL to what is left on the way; only when all that is
not enough is the model name cut. The request id is never cut: it is
what `routecar explain` takes. Ids up to ID_MAX characters (every generated one) are shown
whole; a longer, app-given id is shown as an ellipsis and its end, which explain accepts as a
suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from routecar.routelog.render import ELLIPSIS, Cell, Column, cut, cut_to_fit, outcome_style, status_style
from routecar.routelog.timefmt import fmt_clock, fmt_ms, fmt_usd

COLUMNS = (
    Column("time", "TIME"),
    Column("request", "REQUEST"),
    Column("model", "MODEL", min_width=8),
    Column("provider", "PROVIDER"),
    Column("status", "STATUS", right=True),
    Column("outcome", "OUTCOME"),
    Column("att", "ATT", right=True),
    Column("latency", "LATENCY", right=True),
    Column("ttft", "TTFT", right=True),
    Column("tokens", "TOKENS", right=True),
    Column("cost", "COST", right=True),
    Column("detail", "DETAIL", min_width=12),
)
# What a narrow terminal gives up, first to last: ("drop", column) or ("compact", column) for
# the time without milliseconds and the chosen model without the route it was asked by.
STEPS = (("drop", "ttft"), ("drop", "tokens"), ("drop", "cost"), ("drop", "att"), ("compact", "time"),
         ("drop", "detail"), ("compact", "model"), ("drop", "status"), ("drop", "provider"))
# Cut along the steps; any other cuttable column (the model) only once every step is taken.
CUT_ALONG = frozenset({"detail"})
# Floors while following, so rows printed later by -f still line up with the first screen.
FOLLOW_FLOORS = {"time": 12, "request": 18, "model": 24, "provider": 8, "outcome": 8, "latency": 7,
                 "ttft": 7, "tokens": 9, "cost": 9}
COMPACT_FLOORS = {"time": 8, "model": 12}
ID_MAX = 24
DETAIL_MAX = 80


@dataclass
class Layout:
    """The columns kept, their widths, and which of them print their compact form."""

    columns: list[Column]
    widths: list[int]
    compact: frozenset[str]

    def header(self) -> list[Cell]:
        return [(c.header, "bold") for c in self.columns]

    def cells(self, row: dict[str, Cell]) -> list[Cell]:
        """A row's cells for these columns, the cuttable ones cut to their width."""
        out = []
        for col, width in zip(self.columns, self.widths):
            text, style = row[col.key]
            out.append((cut(text, width) if col.min_width is not None else text, style))
        return out

    def widen(self, rows: Iterable[dict[str, Cell]]) -> None:
        """Lets an uncuttable column grow for a wider value that arrived later (`-f`)."""
        for row in rows:
            for i, col in enumerate(self.columns):
                if col.min_width is None:
                    self.widths[i] = max(self.widths[i], len(row[col.key][0]))

    @property
    def right(self) -> frozenset[int]:
        return frozenset(i for i, c in enumerate(self.columns) if c.right)


def plan(rows: Sequence[dict[str, Any]], width: int | None, color: bool, following: bool) -> Layout:
    """The widest layout of `rows` that fits in `width` columns (None: no limit)."""
    dropped: set[str] = set()
    compact: set[str] = set()
    for step in ((None, None),) + STEPS:
        what, key = step
        if what == "drop":
            dropped.add(key)  # type: ignore[arg-type]
        elif what == "compact":
            compact.add(key)  # type: ignore[arg-type]
        columns = [c for c in COLUMNS if c.key not in dropped]
        widths = _natural_widths(columns, rows, color, frozenset(compact), following)
        if width is None:
            return Layout(columns, widths, frozenset(compact))
        fitted = cut_to_fit(columns, widths, width, only=CUT_ALONG)
        if fitted is not None:
            return Layout(columns, fitted, frozenset(compact))
    # Every step taken and still too wide: cut the model too, down to its minimum at most
    # (a very narrow terminal wraps what is left rather than losing the id).
    fitted = cut_to_fit(columns, widths, width)
    if fitted is None:
        fitted = [c.min_width if c.min_width is not None else w for c, w in zip(columns, widths)]
    return Layout(columns, fitted, frozenset(compact))


def _natural_widths(columns: Sequence[Column], rows: Sequence[dict[str, Any]], color: bool,
                    compact: frozenset[str], following: bool) -> list[int]:
    floors = {**FOLLOW_FLOORS, **{k: v for k, v in COMPACT_FLOORS.items() if k in compact}} if following else {}
    widths = [max(len(c.header), floors.get(c.key, 0)) for c in columns]
    for r in rows:
        cells = row_cells(r, color, compact)
        for i, c in enumerate(columns):
            widths[i] = max(widths[i], len(cells[c.key][0]))
    return widths


def shown_id(request_id: str) -> str:
    """The id as `explain` takes it: whole when it is up to ID_MAX characters, else an
    ellipsis and its last characters (explain matches those as a suffix)."""
    return request_id if len(request_id) <= ID_MAX else ELLIPSIS + request_id[-(ID_MAX - 1):]


def row_cells(r: dict[str, Any], color: bool = False, compact: frozenset[str] = frozenset()) -> dict[str, Cell]:
    """One route log row as the table's cells, by column key."""
    requested, chosen = r.get("requested_model"), r.get("chosen_model")
    arrow = " → " if color else " -> "
    if "model" in compact:
        model = chosen or requested or "-"
    elif chosen and requested and chosen != requested:
        model = f"{requested}{arrow}{chosen}"
    else:
        model = requested or chosen or "-"
    clock = fmt_clock(r.get("ts"))
    if "time" in compact and clock != "-":
        clock = clock[:-4]  # HH:MM:SS.mmm -> HH:MM:SS
    p, c = r.get("prompt_tokens"), r.get("completion_tokens")
    status = r.get("status")
    outcome = r.get("outcome") or "-"
    attempts = r.get("attempts") or 0
    return {
        "time": (clock, "dim"),
        "request": (shown_id(str(r.get("request_id") or "-")), "cyan"),
        "model": (model, None),
        "provider": (r.get("provider") or "-", "magenta"),
        "status": (str(status) if status else "-", status_style(status)),
        "outcome": (outcome, outcome_style(outcome)),
        "att": (str(attempts), "yellow" if attempts > 1 else None),
        "latency": (fmt_ms(r.get("latency_ms")), None),
        "ttft": (fmt_ms(r.get("ttft_ms")), None),
        "tokens": ("-" if p is None and c is None else f"{p or 0}/{c or 0}", None),
        "cost": (fmt_usd(r.get("cost_usd")), None),
        "detail": (detail(r), "dim"),
    }


def detail(r: dict[str, Any]) -> str:
    notes = []
    if r.get("stream"):
        notes.append("stream")
    if r.get("cache"):
        notes.append(f"cache={r['cache']}")
    if r.get("fallback"):
        notes.append("fallback")
    if r.get("escalations"):
        notes.append(f"escalations={r['escalations']}")
    if r.get("canary"):
        notes.append("canary")
    if r.get("error_message"):
        notes.append(" ".join(str(r["error_message"]).split()))
    return cut(" ".join(notes), DETAIL_MAX)
