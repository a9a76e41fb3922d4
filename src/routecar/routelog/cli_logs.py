"""`routecar logs`: the newest route log rows, newest last; `-f` keeps printing new ones until
SIGINT or SIGTERM (its own handlers: a background job inherits SIGINT ignored)."""

from __future__ import annotations

import argparse
import sqlite3
import time
from typing import Any, Sequence

from routecar.routelog import reader
from routecar.routelog.cli_common import (
    EXIT_USAGE, add_db_argument, dump_line, fail, open_db, quiet_broken_pipe,
)
from routecar.routelog.cli_logs_table import Layout, plan, row_cells
from routecar.routelog.errors import RouteLogError
from routecar.routelog.render import Printer, output_width
from routecar.routelog.timefmt import since_cutoff
from routecar.stop_signals import stop_signals_raise

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
    following = bool(getattr(args, "follow", False))
    printer = Printer()
    view = _View(printer, as_json=bool(getattr(args, "json", False)), width=output_width(printer.stream),
                 following=following)
    try:
        with stop_signals_raise():
            conn.execute("BEGIN")  # one snapshot: the rows shown and where following starts agree
            rows = reader.tail(conn, filters, limit) if limit else []
            last = reader.max_id(conn)
            conn.execute("COMMIT")
            view.show(rows, header=True)
            if following:
                _follow(conn, view, follow_filters, last, float(getattr(args, "interval", 0.2)))
    except KeyboardInterrupt:
        pass  # Ctrl-C, SIGINT or SIGTERM: the way a tail ends
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
    """Prints rows as JSON lines or as the table, its layout planned on the first screen and
    kept while following (a header is printed once)."""

    def __init__(self, printer: Printer, as_json: bool, width: int | None = None, following: bool = False) -> None:
        self.printer = printer
        self.as_json = as_json
        self.width = width
        self.following = following
        self.layout: Layout | None = None

    def show(self, rows: Sequence[dict[str, Any]], header: bool) -> None:
        if self.as_json:
            for row in rows:
                self.printer.line(dump_line(row))
            return
        color = self.printer.color
        if self.layout is None:
            self.layout = plan(rows, self.width, color, self.following)
        cells = [row_cells(r, color, self.layout.compact) for r in rows]
        self.layout.widen(cells)
        if header:
            self.printer.row(self.layout.header(), self.layout.widths, self.layout.right)
        for c in cells:
            self.printer.row(self.layout.cells(c), self.layout.widths, self.layout.right)


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m routecar.routelog.cli_logs`); `routecar logs` is the usual way."""
    parser = argparse.ArgumentParser(prog="routecar logs", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

