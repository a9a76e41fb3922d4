"""`routecar fake-provider`: serve the fake upstream on a port until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import orjson

from .faults import parse_faults

# Named presets: keyword arguments for create_app. Faults in a profile can still be switched
# at runtime through the control API.
PROFILES: dict[str, dict[str, Any]] = {
    "healthy": {},
    "slow": {"latency_ms": 400, "chunk_delay_ms": 60},
    "flaky": {"faults": {"status": 503, "rate": 0.3}},
    "ratelimited": {"faults": {"status": 429, "retry_after": 2, "ratelimit_headers": True, "rate": 0.5}},
    "down": {"faults": {"status": 503}},
    "stream-cut": {"faults": {"disconnect_after_chunks": 3}},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--name", default="fake", help="provider name used in answers (default fake)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="healthy",
                        help="a preset of latency and faults (default healthy)")
    parser.add_argument("--chunks", type=int, default=None, help="content chunks per answer (default 8)")
    parser.add_argument("--chunk-delay-ms", type=float, default=None, help="delay between stream chunks")
    parser.add_argument("--latency-ms", type=float, default=None, help="delay before every answer")
    parser.add_argument("--embedding-dim", type=int, default=None, help="embedding size (default 64)")
    parser.add_argument("--faults", default=None,
                        help="fault set as JSON (an object or a list); replaces the profile's faults")
    parser.add_argument("--require-key", action="store_true",
                        help="answer 401 when a request carries no API key")


def build_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """create_app keyword arguments from the profile, overridden by explicit flags.

    Raises ValueError on a bad --faults value.
    """
    kwargs: dict[str, Any] = dict(PROFILES[getattr(args, "profile", None) or "healthy"])
    for flag, key in (("chunks", "chunks"), ("chunk_delay_ms", "chunk_delay_ms"),
                      ("latency_ms", "latency_ms"), ("embedding_dim", "embedding_dim")):
        value = getattr(args, flag, None)
        if value is not None:
            kwargs[key] = value
    if getattr(args, "faults", None):
        try:
            spec = orjson.loads(args.faults)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"--faults is not valid JSON: {exc}") from None
        parse_faults(spec)  # validate now, so a typo fails at start rather than at first request
        kwargs["faults"] = spec
    kwargs["require_key"] = bool(getattr(args, "require_key", False))
    return kwargs


async def _serve(args: argparse.Namespace, kwargs: dict[str, Any]) -> int:
    try:
        from .server import FakeProvider  # the server stack only when a fake actually runs

        fake = FakeProvider(name=args.name, host=args.host, port=args.port, **kwargs)
    except ValueError as exc:
        print(f"fake-provider: {exc}", file=sys.stderr)
        return 2
    try:
        await fake.start()
    except OSError as exc:
        print(f"fake-provider: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(f"fake-provider {args.name} listening on {fake.url}", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await fake.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the process exit code."""
    try:
        kwargs = build_kwargs(args)
    except ValueError as exc:
        print(f"fake-provider: {exc}", file=sys.stderr)
        return 2
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_serve(args, kwargs))
    return uvloop.run(_serve(args, kwargs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routecar fake-provider", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
