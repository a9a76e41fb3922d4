"""The `server` section: sockets, body limits, drain and queueing."""

from __future__ import annotations

import re
from typing import Any

from .errors import found
from .fields import Issues
from .kinds import INVALID, Bool, Defs, Duration, Int, Kind, Schema, Size, with_env
from .model import Listen, ServerConfig
from .shapes import Key, Object

# Ports 0..65535 (leading zeros allowed, as int() reads them).
_PORT_RE = r"([0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PORT = re.compile(r"\d{1,5}")
_EXAMPLE = "(e.g. 127.0.0.1:7300, 0.0.0.0:7300 or [::1]:7300)"


class ListenKind(Kind):
    """"host:port" or "[v6-host]:port". The host is always explicit: a bare ":7300" could mean
    loopback or every interface, and guessing wrong exposes the proxy."""

    ref_name = "listen"

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if not isinstance(value, str):
            return self.error(issues, path, f"must be a \"host:port\" string {_EXAMPLE}, got {found(value)}")
        host, _, port = value.strip().rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            return self.error(issues, path, f"an IPv6 host needs brackets, as in [::1]:7300, got {value!r}")
        if not host or not _PORT.fullmatch(port) or int(port) > 65535:
            return self.error(issues, path, f"must be \"host:port\" with an explicit host {_EXAMPLE}, got {value!r}")
        return Listen(host, int(port))

    def schema(self, defs: Defs) -> Schema:
        pattern = rf"^\s*(\[[^\]]+\]|[^:]*[^:\s][^:]*):{_PORT_RE}\s*$"
        return {**with_env(defs, {"type": "string", "pattern": pattern}),
                "description": "host:port with an explicit host, e.g. 127.0.0.1:7300 or [::1]:7300"}

    def type_name(self) -> str:
        return "host:port"

    def show(self, value: Any) -> Any:
        return str(value)


LISTEN = ListenKind()

SERVER = Object(
    Key("listen", LISTEN, "data plane socket (the OpenAI-compatible API); keep it on loopback"),
    Key("admin_listen", LISTEN, "admin socket: /healthz, /readyz, /metrics, /state; must differ from listen"),
    Key("max_body_bytes", Size(), "largest request body accepted; larger requests get 413"),
    Key("max_response_bytes", Size(), "largest non-streaming upstream answer held, after decompression"),
    Key("max_event_bytes", Size(), "largest single server-sent event from an upstream stream"),
    Key("drain_timeout", Duration(), "on SIGTERM, how long in-flight requests get to finish"),
    Key("max_queue_wait", Duration(), "longest a request waits for a rate-limit reset before a 429"),
    Key("max_queue", Int(min=0), "most requests waiting for a rate-limit reset at once"),
    Key("default_timeout", Duration(positive=True), "deadline of a request that sends no x-routecar-timeout-ms"),
    Key("log_requests", Bool(), "also write one JSON line per finished request to stdout"),
    defaults=ServerConfig,
    name="server",
    example="""\
server:
  listen: 127.0.0.1:7300
  admin_listen: 127.0.0.1:7301
  max_body_bytes: 8MiB
  drain_timeout: 20s
  default_timeout: 10m
""",
)


def build_server(issues: Issues, value: Any) -> ServerConfig:
    v = SERVER.parse(value, "server", issues)
    if v is INVALID:
        return ServerConfig()
    if v["listen"] == v["admin_listen"] and v["listen"].port != 0:
        issues.error(v.path_of("admin_listen"), f"must differ from server.listen ({v['listen']})")
    return ServerConfig(**v)
