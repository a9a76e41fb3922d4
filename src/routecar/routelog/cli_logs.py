"""`routecar logs`: the newest route log rows, newest last; `-f` keeps printing new ones."""

from __future__ import annotations

import argparse
import sqlite3
import time
from typing import Any, Sequence

from routecar.routelog import reader
from routecar.routelog.cli_common import (
    EXIT_USAGE, add_db_argument, dump_line, fail, open_db, quiet_broken_pipe,
)
from routecar.routelog.errors import RouteLogError
from routecar.routelog.render import Cell, Printer, fit_widths, outcome_style, status_style
from routecar.routelog.timefmt import fmt_clock, fmt_ms, fmt_usd, since_cutoff

HEADER = ("TIME", "REQUEST", "MODEL", "PROVIDER", "STATUS", "OUTCOME", "ATT",
          "LATENCY", "TTFT", "TOKENS", "COST", "DETAIL")
RIGHT = frozenset({4, 6, 7, 8, 9, 10})
# Floors so that rows printed later by -f still line up with the first screen.
MIN_WIDTHS = (12, 12, 24, 9, 6, 10, 3, 7, 7, 9, 9, 0)
SHORT_ID = 12
DETAIL_MAX = 80
POLL_BATCH = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing rows as they land")
    parser.add_argument("--since", metavar="AGO", help="only rows newer than this (10m, 2h, 1d, or an ISO time)")
    parser.add_argument(
        "--where", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
        help="filter on a column (provider=openai, outcome=timeout, tags.team=search); also !=, <, >",
    )
    parser.add_argument("--errors", action="store_true", help="only requests whose outcome is not ok")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.add_argument("-n", "--limit", type=int, default=50, metavar="N", help="rows to show (default 50)")
    parser.add_argument("--interval", type=float, default=0.2, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    conn = open_db("logs", args)
    if isinstance(conn, int):
        return conn
    try:
        columns = reader.table_columns(conn)
        where = getattr(args, "where", None) or []
        errors = bool(getattr(args, "errors", False))
        since = since_cutoff(args.since) if getattr(args, "since", None) else None
        filters = reader.build_filters(columns, since=since, where=where, errors=errors)
        # The time filter only shapes the first screen; every row that lands later is recent.
        follow_filters = reader.build_filters(columns, where=where, errors=errors)
    except (RouteLogError, ValueError) as e:
        conn.close()
        return fail("logs", str(e), EXIT_USAGE)
    limit = max(0, int(getattr(args, "limit", 50)))
    view = _View(Printer(), as_json=bool(getattr(args, "json", False)))
    try:
        conn.execute("BEGIN")  # one snapshot: the rows shown and where following starts agree
        rows = reader.tail(conn, filters, limit) if limit else []
        last = reader.max_id(conn)
        conn.execute("COMMIT")
        view.show(rows, header=True)
        if getattr(args, "follow", False):
            _follow(conn, view, follow_filters, last, float(getattr(args, "interval", 0.2)))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        quiet_broken_pipe()
    except sqlite3.Error as e:
        return fail("logs", f"reading the route log failed: {e}")
    finally:
        conn.close()
    return 0


def _follow(conn: sqlite3.Connection, view: "_View", filters: reader.Filters, last: int, interval: float) -> None:
    """Polls for rows past `last` until interrupted (a tail has no other end)."""
    while True:
        time.sleep(interval)
        conn.execute("BEGIN")
        rows = reader.newer_than(conn, filters, last, POLL_BATCH)
        # Skip past rows the filters rejected too, so they are not rescanned on every poll.
        newest = reader.max_id(conn) if len(rows) < POLL_BATCH else rows[-1]["id"]
        conn.execute("COMMIT")
        view.show(rows, header=False)
        last = max(last, newest)


class _View:
    def __init__(self, printer: Printer, as_json: bool) -> None:
        self.printer = printer
        self.as_json = as_json
        self.widths: list[int] = list(MIN_WIDTHS)

    def show(self, rows: Sequence[dict[str, Any]], header: bool) -> None:
        if self.as_json:
            for row in rows:
                self.printer.line(dump_line(row))
            return
        cells = [row_cells(r, self.printer.color) for r in rows]
        fitted = fit_widths(HEADER, cells)
        self.widths = [max(a, b) for a, b in zip(self.widths, fitted)]
        if header:
            self.printer.row([(h, "bold") for h in HEADER], self.widths, RIGHT)
        for c in cells:
            self.printer.row(c, self.widths, RIGHT)


def row_cells(r: dict[str, Any], color: bool = False) -> list[Cell]:
    """One route log row as the table's cells."""
    requested, chosen = r.get("requested_model"), r.get("chosen_model")
    arrow = " → " if color else " -> "
    if chosen and requested and chosen != requested:
        model = f"{requested}{arrow}{chosen}"
    else:
        model = requested or chosen or "-"
    p, c = r.get("prompt_tokens"), r.get("completion_tokens")
    tokens = "-" if p is None and c is None else f"{p or 0}/{c or 0}"
    status = r.get("status")
    outcome = r.get("outcome") or "-"
    return [
        (fmt_clock(r.get("ts")), "dim"),
        (_short_id(str(r.get("request_id") or "-")), "cyan"),
        (model, None),
        (r.get("provider") or "-", "magenta"),
        (str(status) if status else "-", status_style(status)),
        (outcome, outcome_style(outcome)),
        (str(r.get("attempts") or 0), "yellow" if (r.get("attempts") or 0) > 1 else None),
        (fmt_ms(r.get("latency_ms")), None),
        (fmt_ms(r.get("ttft_ms")), None),
        (tokens, None),
        (fmt_usd(r.get("cost_usd")), None),
        (_detail(r), "dim"),
    ]


def _detail(r: dict[str, Any]) -> str:
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
    text = " ".join(notes)
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m routecar.routelog.cli_logs`); `routecar logs` is the usual way."""
    parser = argparse.ArgumentParser(prog="routecar logs", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def _short_id(request_id: str) -> str:
    """The end of an id: generated ids share a per-process prefix, so the tail is what differs
    (and `explain` accepts any unique prefix, so full ids stay one `--json` away)."""
    return request_id if len(request_id) <= SHORT_ID else "…" + request_id[-(SHORT_ID - 1):]


if __name__ == "__main__":
    raise SystemExit(main())

