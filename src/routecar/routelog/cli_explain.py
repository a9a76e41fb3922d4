"""`routecar explain REQUEST_ID`: the whole story of one request, from what was asked through
the routing decision and every attempt to the result."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import Any

import orjson

from routecar.routelog import reader
from routecar.routelog.cli_common import EXIT_ERROR, add_db_argument, fail, open_db
from routecar.routelog.errors import RouteLogError
from routecar.routelog.render import Printer, fit_widths, outcome_style, status_style
from routecar.routelog.timefmt import fmt_clock, fmt_iso, fmt_ms, fmt_usd

LABEL = 16
# Keys that name an entry of `candidates` / `skipped`, in order of preference.
NAME_KEYS = ("model", "slug", "name", "deployment")
ATTEMPT_HEADER = ("#", "PROVIDER", "MODEL", "SLUG", "STATUS", "ERROR", "LATENCY", "TTFT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("request_id", metavar="REQUEST_ID",
                        help="a request id, or any part of one it starts or ends with that no other id shares")
    parser.add_argument("--json", action="store_true", help="print the raw row(s) as JSON")


def run(args: argparse.Namespace) -> int:
    conn = open_db("explain", args)
    if isinstance(conn, int):
        return conn
    try:
        rows = reader.find_request(conn, str(args.request_id))
    except reader.AmbiguousRequestId as e:
        return _ambiguous(e)
    except RouteLogError as e:
        return fail("explain", str(e))
    except sqlite3.Error as e:
        return fail("explain", f"reading the route log failed: {e}")
    finally:
        conn.close()
    printer = Printer()
    for i, row in enumerate(rows):
        if getattr(args, "json", False):
            printer.line(orjson.dumps(row, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
            continue
        if i:
            printer.line()
        explain(printer, row)
    return 0


def _ambiguous(e: reader.AmbiguousRequestId) -> int:
    """Which requests the given part matches, one line each, so the user can pick one."""
    err = Printer(sys.stderr)
    err.line(f"routecar explain: {e.given!r} is ambiguous, it matches more than one request id; "
             "give one of these (or enough of it):")
    cells = [[(str(c.get("request_id")), "cyan"), (fmt_clock(c.get("ts")), "dim"),
              (str(c.get("chosen_model") or c.get("requested_model") or "-"), None),
              (str(c.get("outcome") or "-"), outcome_style(c.get("outcome")))] for c in e.candidates]
    widths = fit_widths(("",) * 4, cells)
    for row in cells:
        err.row([("  " + row[0][0], row[0][1])] + row[1:], [widths[0] + 2] + widths[1:])
    if e.more:
        err.line("  ... and more", "dim")
    return EXIT_ERROR


def explain(p: Printer, r: dict[str, Any]) -> None:
    p.cells([("request ", "bold"), (str(r.get("request_id")), "bold cyan"),
             (f"  at {fmt_iso(r.get('ts'))}  (row {r.get('id')})", "dim")])
    _section(p, "asked")
    _kv(p, "endpoint", f"{r.get('endpoint') or '-'}{' (stream)' if r.get('stream') else ''}")
    _kv(p, "model", r.get("requested_model"))
    _kv(p, "tags", _pairs(r.get("tags")))
    _kv(p, "est. cost", fmt_usd(r.get("est_cost_usd")))
    _kv(p, "classes", _pairs(r.get("classes")))

    _section(p, "decision")
    _kv(p, "route", r.get("route"))
    _kv(p, "strategy", r.get("strategy"))
    _kv(p, "reason", r.get("reason"))
    _kv(p, "rules matched", ", ".join(map(str, r.get("rules_matched") or [])) or "none")
    _entries(p, "candidates", r.get("candidates"), numbered=True)
    _entries(p, "skipped", r.get("skipped"), numbered=False)
    _kv(p, "shadow choice", r.get("shadow_model"))
    _kv(p, "canary", "yes" if r.get("canary") else "no")
    _kv(p, "cache", r.get("cache") or "-")

    attempts = r.get("attempt_log") or []
    _section(p, f"attempts ({len(attempts)})")
    if attempts:
        _attempts(p, attempts)
    else:
        p.line("  none (the request was answered or rejected before any upstream call)", "dim")

    _section(p, "result")
    status, outcome = r.get("status"), r.get("outcome")
    p.cells([("  " + "status".ljust(LABEL), None), (str(status or "-"), status_style(status)),
             ("   outcome ", None), (str(outcome or "-"), outcome_style(outcome))])
    served = r.get("chosen_model") or "-"
    if r.get("provider"):
        served += f" via {r['provider']}"
    if r.get("upstream_model"):
        served += f" ({r['upstream_model']})"
    _kv(p, "served by", served)
    if r.get("fallback") or r.get("escalations"):
        _kv(p, "fallback", f"{'yes' if r.get('fallback') else 'no'}, escalations {r.get('escalations') or 0}")
    _kv(p, "error", r.get("error_message"))
    _kv(p, "tokens", f"{_int(r.get('prompt_tokens'))} prompt / {_int(r.get('completion_tokens'))} completion")
    _kv(p, "cost", f"{fmt_usd(r.get('cost_usd'))} (estimated {fmt_usd(r.get('est_cost_usd'))})")
    _kv(p, "latency", f"{fmt_ms(r.get('latency_ms'))}, ttft {fmt_ms(r.get('ttft_ms'))}, "
                      f"routecar overhead {fmt_ms(r.get('overhead_ms'))}")
    _kv(p, "config hash", r.get("config_hash"))
    for key in ("prompt", "response"):
        if r.get(key) is not None:
            _kv(p, key, _short(orjson.dumps(r[key]).decode(), 300))


def _section(p: Printer, title: str) -> None:
    p.line(title, "bold underline")


def _kv(p: Printer, label: str, value: Any) -> None:
    text = "-" if value is None or value == "" else str(value)
    p.cells([("  " + label.ljust(LABEL), "dim"), (text, None)])


def _int(v: Any) -> str:
    return "-" if v is None else str(v)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _pairs(obj: Any) -> str:
    if not obj:
        return "-"
    if isinstance(obj, dict):
        return " ".join(f"{k}={_num(v)}" for k, v in obj.items())
    return str(obj)


def describe(entry: Any) -> tuple[str, str]:
    """An entry of `candidates` or `skipped` as (name, the rest as key=value or its reason)."""
    if not isinstance(entry, dict):
        return str(entry), ""
    rest = dict(entry)
    name = next((str(rest.pop(k)) for k in NAME_KEYS if rest.get(k) is not None), "?")
    provider = rest.pop("provider", None)
    if provider:
        name += f" @{provider}"
    reason = rest.pop("reason", None)
    # A value the router did not compute (a score for a strategy that does not score) is left
    # out rather than printed as None.
    parts = [f"{k}={_num(v)}" for k, v in rest.items() if v is not None]
    if reason:
        parts.insert(0, str(reason))
    return name, "  ".join(parts)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (dict, list)):
        return orjson.dumps(v).decode()
    return str(v)


def _entries(p: Printer, label: str, entries: Any, numbered: bool) -> None:
    if not entries:
        _kv(p, label, "none")
        return
    p.line("  " + label, "dim")
    described = [describe(e) for e in entries]
    width = max(len(n) for n, _ in described)
    for i, (name, rest) in enumerate(described, 1):
        bullet = f"{i}." if numbered else "-"
        p.cells([(f"    {bullet} ", "dim"), (name.ljust(width), "cyan"), ("  " + rest, None)])


def _attempts(p: Printer, attempts: list[Any]) -> None:
    rows = []
    for i, a in enumerate(attempts, 1):
        a = a if isinstance(a, dict) else {"error": str(a)}
        status = a.get("status")
        rows.append([
            (str(i), None),
            (str(a.get("provider") or "-") + (" (hedge)" if a.get("hedge") else ""), "magenta"),
            (str(a.get("model") or "-"), None),
            (str(a.get("slug") or "-"), None),
            (str(status) if status else "-", status_style(status)),
            (_error_cell(a), "yellow" if a.get("lost") else ("red" if a.get("error") else "green")),
            (fmt_ms(a.get("latency_ms")), None),
            (fmt_ms(a.get("ttft_ms")), None),
        ])
    widths = fit_widths(ATTEMPT_HEADER, rows)
    right = frozenset({0, 4, 6, 7})
    p.row([("  " + ATTEMPT_HEADER[0], "bold")] + [(h, "bold") for h in ATTEMPT_HEADER[1:]],
          [widths[0] + 2] + widths[1:], right)
    for row in rows:
        row[0] = ("  " + row[0][0], row[0][1])
        p.row(row, [widths[0] + 2] + widths[1:], right)


def _error_cell(a: dict[str, Any]) -> str:
    """The attempt's error class; a hedge race's loser also shows what it cost the request."""
    text = str(a.get("error") or "-")
    if a.get("lost") and a.get("cost_usd") is not None:
        text += f" (cost ${a['cost_usd']:.6f}{', estimated' if a.get('cost_estimated') else ''})"
    return text


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (`python -m routecar.routelog.cli_explain`); `routecar explain` is the usual way."""
    parser = argparse.ArgumentParser(prog="routecar explain", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
