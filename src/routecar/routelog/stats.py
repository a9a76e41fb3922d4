"""Per-group aggregates of the route log for `routecar stats`.

Counts and sums are computed by SQLite; percentiles need every value, so latency and TTFT are
fetched (only for the rows --since selects) into compact float arrays and ranked in Python.
"""

from __future__ import annotations

import sqlite3
from array import array
from dataclasses import asdict, dataclass
from typing import Any

from routecar.routelog.errors import RouteLogError
from routecar.routelog.reader import Filters, json_path
from routecar.routelog.schema import TABLE

GROUPINGS = ("model", "provider", "route")
TOTAL = "TOTAL"
NONE_LABEL = "(none)"


@dataclass
class GroupStats:
    group: str
    requests: int
    errors: int
    fallbacks: int
    escalations: int
    cache_lookups: int  # rows with a cache verdict (miss, hit, semantic_hit)
    cache_hits: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None
    p50_ttft_ms: float | None
    p95_ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    @property
    def error_pct(self) -> float | None:
        return _pct(self.errors, self.requests)

    @property
    def fallback_pct(self) -> float | None:
        return _pct(self.fallbacks, self.requests)

    @property
    def escalation_pct(self) -> float | None:
        return _pct(self.escalations, self.requests)

    @property
    def cache_hit_pct(self) -> float | None:
        return _pct(self.cache_hits, self.cache_lookups)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("error_pct", "fallback_pct", "escalation_pct", "cache_hit_pct"):
            value = getattr(self, name)
            out[name] = None if value is None else round(value, 3)
        return out


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def percentile(sorted_values: array | list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default) over sorted values."""
    n = len(sorted_values)
    if n == 0:
        return None
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def group_expr(by: str) -> tuple[str, list[Any]]:
    """SQL for the group label of `--by`, with its parameters."""
    if by == "model":
        return "COALESCE(chosen_model, requested_model)", []
    if by == "provider":
        # A request that failed everywhere has no answering provider; charging it to the
        # provider whose attempt failed last is what makes error % per provider show an outage.
        return "COALESCE(provider, json_extract(attempt_log, '$[#-1].provider'))", []
    if by == "route":
        return by, []
    if by.startswith("tag:") and by[4:]:
        return "json_extract(tags, ?)", [json_path(by[4:])]
    raise RouteLogError(f"bad --by {by!r}: use model, provider, route or tag:NAME")


_AGGREGATES = """
  COUNT(*) AS requests,
  SUM(COALESCE(outcome, '') != 'ok') AS errors,
  SUM(COALESCE(fallback, 0) != 0) AS fallbacks,
  SUM(COALESCE(escalations, 0) > 0) AS escalations,
  SUM(COALESCE(cache, '') != '') AS cache_lookups,
  SUM(cache IN ('hit', 'semantic_hit')) AS cache_hits,
  COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
  COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
  COALESCE(SUM(cost_usd), 0.0) AS cost_usd
"""


def compute(conn: sqlite3.Connection, by: str, filters: Filters) -> list[GroupStats]:
    """One GroupStats per group, most requests first, then a TOTAL row last."""
    expr, expr_params = group_expr(by)
    expr = f"NULLIF({expr}, '')"  # a missing label and an empty one are the same group
    where = filters.sql()
    sums: dict[Any, dict[str, Any]] = {}
    for row in conn.execute(
        f"SELECT {expr} AS grp, {_AGGREGATES} FROM {TABLE}{where} GROUP BY grp",
        (*expr_params, *filters.params),
    ):
        sums[row.pop("grp")] = row
    latency: dict[Any, array] = {g: array("d") for g in sums}
    ttft: dict[Any, array] = {g: array("d") for g in sums}
    for grp, lat, tt in _iter_tuples(conn, expr, expr_params, where, filters.params):
        if lat is not None:
            latency[grp].append(lat)
        if tt is not None:
            ttft[grp].append(tt)
    groups = [_finish(_label(g), sums[g], latency[g], ttft[g]) for g in sums]
    groups.sort(key=lambda s: (-s.requests, s.group))
    if sums:
        total = {k: sum(s[k] for s in sums.values()) for k in next(iter(sums.values()))}
        all_lat = array("d", (v for a in latency.values() for v in a))
        all_ttft = array("d", (v for a in ttft.values() for v in a))
        groups.append(_finish(TOTAL, total, all_lat, all_ttft))
    return groups


def _iter_tuples(
    conn: sqlite3.Connection, expr: str, expr_params: list[Any], where: str, params: list[Any]
) -> Any:
    # Plain tuples, not the dict rows of the read connection: this is the hot loop.
    cur = conn.cursor()
    cur.row_factory = None
    return cur.execute(f"SELECT {expr}, latency_ms, ttft_ms FROM {TABLE}{where}", (*expr_params, *params))


def _label(group: Any) -> str:
    return NONE_LABEL if group is None else str(group)


def _finish(label: str, s: dict[str, Any], latency: array, ttft: array) -> GroupStats:
    lat = sorted(latency)
    tt = sorted(ttft)
    return GroupStats(
        group=label,
        requests=int(s["requests"]),
        errors=int(s["errors"] or 0),
        fallbacks=int(s["fallbacks"] or 0),
        escalations=int(s["escalations"] or 0),
        cache_lookups=int(s["cache_lookups"] or 0),
        cache_hits=int(s["cache_hits"] or 0),
        p50_latency_ms=percentile(lat, 0.50),
        p95_latency_ms=percentile(lat, 0.95),
        p50_ttft_ms=percentile(tt, 0.50),
        p95_ttft_ms=percentile(tt, 0.95),
        prompt_tokens=int(s["prompt_tokens"]),
        completion_tokens=int(s["completion_tokens"]),
        cost_usd=float(s["cost_usd"]),
    )
