"""`routecar state`: the live health state (GET /state) as readable tables."""

from __future__ import annotations

import json
import sys
from typing import Any

CIRCUIT_COLORS = {"closed": "green", "half_open": "yellow", "open": "red"}
# Sections printed as tables or summary lines; anything else /state grows is printed as JSON.
KNOWN = frozenset({"deployments", "providers", "retry_budget", "config_hash", "draining",
                   "in_flight_requests", "route_log"})


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    v = float(value)
    return f"{v:.1f}" if v < 10 else f"{v:.0f}"  # sub-millisecond fakes and local models exist


def _secs(value: Any) -> str:
    return "-" if not value else f"{float(value):.1f}s"


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def _triple(window: Any) -> str:
    window = window or {}
    return "/".join(_ms(window.get(k)) for k in ("p50", "p95", "p99"))


def _deployments_table(state: dict[str, Any]) -> Any:
    from rich.table import Table

    draining = "  DRAINING" if state.get("draining") else ""
    table = Table(title=f"routecar health (config {state.get('config_hash', '?')}){draining}", header_style="bold")
    for col in ("deployment", "circuit", "open for", "cooldown", "headroom req/tok", "in flight",
                "ttft p50/p95/p99 ms", "latency p50/p95/p99 ms", "samples", "weight"):
        table.add_column(col)
    for dep_id, d in sorted((state.get("deployments") or {}).items()):
        circuit = str(d.get("state", "?"))
        head = d.get("headroom") or {}
        table.add_row(
            dep_id,
            f"[{CIRCUIT_COLORS.get(circuit, 'white')}]{circuit}[/]",
            _secs(d.get("open_until")),
            _secs(d.get("cooldown_s")),
            f"{_n(head.get('remaining_requests'))}/{_n(head.get('remaining_tokens'))}",
            _n(d.get("in_flight", 0)),
            _triple(d.get("ttft_ms")),
            _triple(d.get("latency_ms")),
            _n(d.get("samples")),
            _n(d.get("effective_weight")),
        )
    return table


def _providers_table(providers: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="providers", header_style="bold")
    for col in ("provider", "in flight / max conns", "rpm limit", "tpm limit", "requests 60s", "tokens 60s"):
        table.add_column(col)
    for name, p in sorted(providers.items()):
        table.add_row(name, f"{_n(p.get('in_flight'))}/{_n(p.get('max_connections'))}", _n(p.get("rpm")),
                      _n(p.get("tpm")), _n(p.get("requests_last_60s")), _n(p.get("tokens_last_60s")))
    return table


def summary_lines(state: dict[str, Any]) -> list[str]:
    """The one-line sections: requests in flight, retry budget, route log, and anything new."""
    lines = [f"in flight: {_n(state.get('in_flight_requests'))} requests"]
    budget = state.get("retry_budget")
    if isinstance(budget, dict):
        lines.append(f"retry budget: {_n(budget.get('retries'))} retries of {_n(budget.get('requests'))} requests "
                     f"in {_n(budget.get('window_s'))}s (ratio {_n(budget.get('ratio'))}, "
                     f"floor {_n(budget.get('min_per_second'))}/s, allowed now {_n(budget.get('allowed'))})")
    log = state.get("route_log")
    if isinstance(log, dict):
        lines.append(f"route log: {_n(log.get('written'))} written, {_n(log.get('queue_depth'))} queued, "
                     f"{_n(log.get('dropped'))} dropped")
    for key, value in state.items():
        if key not in KNOWN:
            lines.append(f"{key}: {json.dumps(value, default=str)}")
    return lines


def print_state(state: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(file=sys.stdout, no_color=not sys.stdout.isatty(), highlight=False)
    console.print(_deployments_table(state))
    providers = state.get("providers")
    if isinstance(providers, dict) and providers:
        console.print(_providers_table(providers))
    for line in summary_lines(state):
        console.print(line, markup=False)
