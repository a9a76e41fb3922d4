"""Pieces shared by `routecar logs / stats / explain`: the --db option, opening the file, and
turning route log errors into a message and an exit status."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import Any

import orjson

from routecar.routelog.errors import RouteLogError
from routecar.routelog.reader import open_readonly

EXIT_ERROR = 1
EXIT_USAGE = 2


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    """Adds --db unless the CLI already put it on this parser (it resolves the default)."""
    try:
        parser.add_argument(
            "--db", metavar="PATH", default=None,
            help="route log file (default: route_log.path of the config found as for serve)",
        )
    except argparse.ArgumentError:
        pass


def fail(command: str, message: str, code: int = EXIT_ERROR) -> int:
    print(f"routecar {command}: {message}", file=sys.stderr)
    return code


def open_db(command: str, args: argparse.Namespace) -> sqlite3.Connection | int:
    """The read-only connection, or the exit status after printing why there is none."""
    path = getattr(args, "db", None)
    if not path:
        return fail(command, "no route log given: pass --db PATH", EXIT_USAGE)
    try:
        return open_readonly(str(path))
    except RouteLogError as e:
        return fail(command, str(e))


def dump_line(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode()


def quiet_broken_pipe() -> None:
    """`routecar logs | head` closed our stdout: stop without a traceback at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a real file (tests capture it); nothing to silence
