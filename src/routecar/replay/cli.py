"""`routecar replay -c NEW.yaml [-c CURRENT.yaml | --db PATH] [--since 24h] [--route NAME] [--json]`.

The first `-c` is the config to replay under (NEW); the route log is `--db`, else the
`route_log.path` of a second `-c` (the CURRENT config), else NEW's own `route_log.path`.
A bad config, db path or `--since` is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_USAGE = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", action="append", default=[], metavar="PATH",
                   help="NEW config to replay under; a second -c names the CURRENT config whose "
                        "route_log.path is the log (default db: NEW's route_log.path)")
    p.add_argument("--db", metavar="PATH", default=None, help="route log file to replay")
    p.add_argument("--since", default="24h", help="rows newer than this: a duration (24h, 30m) or an ISO time; "
                   "'all' for every row (default 24h)")
    p.add_argument("--route", default=None, help="only requests to this route (or model) name")
    p.add_argument("--seed", type=int, default=0, help="seed of the random draws (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _fail(message: str) -> int:
    print(f"routecar replay: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load(path: str) -> Any:
    """The config, or a one-line error string."""
    from ..config.loader import ConfigError, load_config
    from ..redaction import Redactor

    try:
        return load_config(path)
    except ConfigError as exc:
        first = str(exc.errors[0]) if exc.errors else str(exc)
        more = f" (and {len(exc.errors) - 1} more; see `routecar check -c {path}`)" if len(exc.errors) > 1 else ""
        return f"invalid config {path}: {Redactor().text(first)}{more}"
    except OSError as exc:
        return f"cannot read config {path}: {exc.strerror or exc}"


def run(args: argparse.Namespace) -> int:
    import orjson

    from ..routelog.errors import RouteLogError
    from ..routelog.reader import open_readonly
    from ..routelog.timefmt import since_cutoff
    from .engine import replay
    from .render import render_text

    paths = args.config
    if not paths or len(paths) > 2:
        return _fail("give the NEW config with -c (and optionally the CURRENT config as a second -c)")
    configs = [_load(p) for p in paths]
    for c in configs:
        if isinstance(c, str):
            return _fail(c)
    new = configs[0]
    db = args.db or configs[-1].route_log.path
    since = None
    if args.since and args.since != "all":
        try:
            since = since_cutoff(args.since)
        except ValueError as exc:
            return _fail(f"--since {args.since!r}: {exc}")
    try:
        conn = open_readonly(str(db))
    except RouteLogError as exc:
        return _fail(str(exc))
    try:
        report = replay(new, conn, since, args.route, args.seed)
    except Exception as exc:  # a file that is not a route log: one line, not a traceback
        import sqlite3

        if isinstance(exc, sqlite3.Error):
            return _fail(f"cannot read route log {db}: {exc}")
        raise
    finally:
        conn.close()
    if args.json:
        print(orjson.dumps(report).decode())
    else:
        scope = f"since {args.since}" if since is not None else "all rows"
        scope += f", route {args.route}" if args.route else ""
        print(render_text(report, f"replay of {db} under {paths[0]} ({scope})"))
    return 0
