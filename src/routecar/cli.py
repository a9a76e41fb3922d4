"""`routecar` command line: thin commands over the pieces of the package.

Each command imports what it needs when it runs, so `serve` never pays for the CLI-only
libraries (rich, sqlite readers) and the SRE commands never pay for the server.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Callable

from .redaction import Redactor
from .stop_signals import raise_on_stop_signals

DEFAULT_CONFIG = "./sidecar.yaml"
# Commands that run until stopped. They take SIGINT and SIGTERM from the first line of main()
# on, even when started with SIGINT ignored (a shell's background job); each then installs its
# own handlers where it can stop cleanly (its loop, its poll). `serve` is not one of them: it
# sets its handlers as its loop starts (server/app.py) and drains on them; before that, there
# is nothing to clean up.
LONG_RUNNING = frozenset({"logs", "demo", "fake-provider"})


def config_path(args: argparse.Namespace) -> str:
    return args.config or os.environ.get("ROUTECAR_CONFIG") or DEFAULT_CONFIG


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", help="config file (default: $ROUTECAR_CONFIG, else ./sidecar.yaml)")


def _load_or_exit(path: str, redactor: Redactor):
    from .config.loader import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"routecar: invalid config {path}:", file=sys.stderr)
        for err in exc.errors:
            # An error may quote a value interpolated from the environment; when `${OPENAI_API_KEY}`
            # lands in the wrong key, the key must not end up in a CI log.
            print(f"  {redactor.text(str(err))}", file=sys.stderr)
        raise SystemExit(1) from None
    for provider in config.providers.values():
        for secret in provider.secrets():
            redactor.register(secret)  # defence in depth: scrubbed from all we print
    return config


def cmd_serve(args: argparse.Namespace) -> int:
    from .observability.jsonlog import setup_logging, shutdown_logging

    # The process's one Redactor: log lines, route-log rows and error bodies all scrub with it,
    # so a key registered once (the config's, at start and on reload) is caught everywhere.
    redactor = Redactor()
    setup_logging(args.log_level, redactor=redactor)
    path = config_path(args)
    config = _load_or_exit(path, redactor)
    for warning in config.warnings:
        import logging

        logging.getLogger("routecar.config").warning(warning)
    from .server.app import run_serve

    try:
        return run_serve(path, config, redactor=redactor)
    finally:
        shutdown_logging()


def cmd_check(args: argparse.Namespace) -> int:
    from .config.describe import format_config

    redactor = Redactor()
    path = config_path(args)
    config = _load_or_exit(path, redactor)
    print(redactor.text(format_config(config)))
    print(f"OK: {path} is valid (config hash {config.hash})")
    return 0


def _resolve_db(args: argparse.Namespace) -> None:
    if getattr(args, "db", None):
        return
    path = config_path(args)
    if os.path.exists(path):
        args.db = _load_or_exit(path, Redactor()).route_log.path
    else:
        print(f"routecar: no --db given and no config at {path} to read route_log.path from", file=sys.stderr)
        raise SystemExit(1)


def _db_command(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        _resolve_db(args)
        return importlib.import_module(f".routelog.{module}", __package__).run(args)

    return run


def cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        from .config.docs import render_markdown as render
    else:
        from .config.schema import render_json as render
    sys.stdout.write(render())
    return 0


def cmd_state(args: argparse.Namespace) -> int:
    import json
    import urllib.error
    import urllib.request

    url = args.admin.rstrip("/") + "/state"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - admin URL given by the operator
            state = json.loads(resp.read())
    except (urllib.error.URLError, OSError) as exc:
        print(f"routecar: cannot read {url}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(state, indent=2))
        return 0
    from .state_view import print_state

    print_state(state)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay.cli import run

    return run(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(seconds=args.seconds, rps=args.rps)


def cmd_fake_provider(args: argparse.Namespace) -> int:
    from .fake.cli import run

    return run(args)


# The SRE commands whose arguments are declared by their own modules (route-log readers, the
# fake provider): those modules are imported only when their command is the one running.
_ROUTELOG_COMMANDS = (("logs", "cli_logs", "tail the route log"),
                      ("stats", "cli_stats", "per-group request statistics"),
                      ("explain", "cli_explain", "the whole decision for one request"))
COMMANDS = ("serve", "check", "schema", "logs", "stats", "explain", "replay", "state", "demo", "fake-provider")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line. Given `command` (the subcommand about to run), the other commands
    are listed by name and help only, so `serve` never imports the route-log readers or the fake
    provider just to declare arguments it will not parse."""
    parser = argparse.ArgumentParser(prog="routecar", description="LLM routing sidecar")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the proxy")
    _add_config(p)
    p.add_argument("--log-level", default=os.environ.get("ROUTECAR_LOG_LEVEL", "info"))
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check", help="validate a config without serving")
    _add_config(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("schema", help="print the JSON Schema (draft 2020-12) of sidecar.yaml")
    p.add_argument("--markdown", action="store_true", help="print the configuration reference (docs/configuration.md) instead")
    p.set_defaults(func=cmd_schema)

    for name, module_name, helptext in _ROUTELOG_COMMANDS:
        p = sub.add_parser(name, help=helptext)
        p.set_defaults(func=_db_command(module_name))
        if command not in (None, name):
            continue
        _add_config(p)
        importlib.import_module(f".routelog.{module_name}", __package__).add_arguments(p)
        if not any(a.dest == "db" for a in p._actions):
            p.add_argument("--db", help="route log file (default: route_log.path of the config)")

    p = sub.add_parser("replay", help="re-decide logged requests under another config (sends nothing)")
    p.set_defaults(func=cmd_replay)
    if command in (None, "replay"):
        from .replay import cli as replay_cli

        replay_cli.add_arguments(p)

    p = sub.add_parser("state", help="live in-memory health state")
    p.add_argument("--admin", default=os.environ.get("ROUTECAR_ADMIN", "http://127.0.0.1:7301"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_state)

    p = sub.add_parser("demo", help="offline demo: fake providers, traffic, an outage, live view")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rps", type=float, default=20.0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("fake-provider", help="a fake OpenAI/Anthropic/Gemini upstream with injectable faults")
    p.set_defaults(func=cmd_fake_provider)
    if command in (None, "fake-provider"):
        from .fake import cli as fake_cli

        fake_cli.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The top-level parser has no options of its own, so a command, when given, comes first.
    command = argv[0] if argv and argv[0] in COMMANDS else None
    if command in LONG_RUNNING:
        raise_on_stop_signals()
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C, or a stop signal of a long-running command, while starting
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
