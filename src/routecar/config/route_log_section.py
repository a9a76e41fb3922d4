"""The `route_log` section: the SQLite file of one row per request, and its upkeep."""

from __future__ import annotations

from typing import Any

from .alternatives import Either
from .fields import Issues
from .kinds import INVALID, Bool, Duration, Int, Str
from .model import Retention, RouteLogConfig
from .shapes import Key, Object, Values

RETENTION = Object(
    Key("max_age", Duration(positive=True), "rows older than this are deleted (null: kept whatever their age)",
        nullable=True),
    Key("max_rows", Int(min=1), "the oldest rows beyond this many are deleted (null: no cap)", nullable=True),
    defaults=Retention,
    name="retention",
)

ROUTE_LOG = Object(
    Key("path", Str(), "the SQLite file (WAL mode); relative paths are from the working directory"),
    Key("flush_interval", Duration(positive=True), "longest a row waits before its batch is written"),
    Key("batch_size", Int(min=1), "most rows written in one transaction"),
    Key("queue_size", Int(min=1), "most rows waiting to be written (at least batch_size)"),
    Key("retention", Either(Duration(positive=True), RETENTION),
        "how long rows are kept: a duration (max_age), or max_age and max_rows"),
    Key("record_prompts", Bool(), "also store prompts and answers (never stored unless set)"),
    defaults=RouteLogConfig,
    name="route_log",
    example="""\
route_log:
  path: ./routes.db
  flush_interval: 250ms
  retention: {max_age: 7d, max_rows: 1000000}
  record_prompts: false
""",
)


def build_route_log(issues: Issues, value: Any) -> RouteLogConfig:
    v = ROUTE_LOG.parse(value, "route_log", issues)
    if v is INVALID:
        return RouteLogConfig()
    retention = v["retention"]
    if isinstance(retention, Values):
        retention = Retention(**retention)
    elif retention is None:
        retention = Retention()
    else:
        retention = Retention(max_age=retention)  # a duration alone sets max_age
    if v["queue_size"] < v["batch_size"]:
        issues.error(v.path_of("queue_size"), f"must be >= batch_size ({v['batch_size']}), got {v['queue_size']}")
    return RouteLogConfig(**{**v, "retention": retention})
