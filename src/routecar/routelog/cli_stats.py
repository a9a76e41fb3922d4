"""`routecar stats`: requests, errors, fallbacks, latency and TTFT percentiles, tokens and cost,
per model, provider, route or tag, over a recent window."""

from __future__ import annotations

import argparse
import sqlite3
import time

from routecar.routelog import reader
from routecar.routelog.cli_common import EXIT_USAGE, add_db_argument, dump_line, fail, open_db
from routecar.routelog.errors import RouteLogError
from routecar.routelog.render import Cell, Printer, fit_widths
from routecar.routelog.stats import TOTAL, GroupStats, compute
from routecar.routelog.timefmt import fmt_iso, fmt_ms, fmt_usd, since_cutoff

HEADER = ("REQS", "ERR%", "FALLBK%", "ESC%", "CACHE%", "P50", "P95",
          "TTFT P50", "TTFT P95", "PROMPT TOK", "COMPL TOK", "COST")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("--since", default="1h", metavar="AGO", help="window (default 1h; 10m, 1d, or an ISO time)")
    parser.add_argument(
        "--by", default="model", metavar="model|provider|route|tag:NAME",
        help="group rows by chosen model (default), provider, route or a tag",
    )
    parser.add_argument(
        "--where", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
        help="only rows matching (same syntax as routecar logs --where)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args: argparse.Namespace) -> int:
    conn = open_db("stats", args)
    if isinstance(conn, int):
        return conn
    by = getattr(args, "by", None) or "model"
    try:
        since = since_cutoff(getattr(args, "since", None) or "1h")
        filters = reader.build_filters(
            reader.table_columns(conn), since=since, where=getattr(args, "where", None) or []
        )
        groups = compute(conn, by, filters)
    except (RouteLogError, ValueError) as e:
        return fail("stats", str(e), EXIT_USAGE)
    except sqlite3.Error as e:
        return fail("stats", f"reading the route log failed: {e}")
    finally:
        conn.close()
    printer = Printer()
    if getattr(args, "json", False):
        body = [g.as_dict() for g in groups if g.group != TOTAL]
        total = next((g.as_dict() for g in groups if g.group == TOTAL), None)
        printer.line(dump_line({"by": by, "since": since, "until": time.time(), "groups": body, "total": total}))
        return 0
    printer.line(f"route log {args.db}: since {fmt_iso(since)}, by {by}", "bold")
    if not groups:
        printer.line("no requests in this window")
        return 0
    header = (by.upper(),) + HEADER
    cells = [stats_cells(g) for g in groups]
    widths = fit_widths(header, cells)
    right = frozenset(range(1, len(header)))
    printer.row([(h, "bold") for h in header], widths, right)
    for g, c in zip(groups, cells):
        if g.group == TOTAL:
            c = [(text, "bold") for text, _ in c]
        printer.row(c, widths, right)
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def stats_cells(g: GroupStats) -> list[Cell]:
    err = g.error_pct
    return [
        (g.group, "cyan"),
        (str(g.requests), None),
        (_pct(err), "red" if err else None),
        (_pct(g.fallback_pct), "yellow" if g.fallbacks else None),
        (_pct(g.escalation_pct), None),
        (_pct(g.cache_hit_pct), None),
        (fmt_ms(g.p50_latency_ms), None),
        (fmt_ms(g.p95_latency_ms), None),
        (fmt_ms(g.p50_ttft_ms), None),
        (fmt_ms(g.p95_ttft_ms), None),
        (f"{g.prompt_tokens:,}", None),
        (f"{g.completion_tokens:,}", None),
        (fmt_usd(g.cost_usd), "green"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m routecar.routelog.cli_stats`); `routecar stats` is the usual way."""
    parser = argparse.ArgumentParser(prog="routecar stats", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
