"""`routecar state`: the live health state as a readable table."""

from __future__ import annotations

import sys
from typing import Any


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}"


def print_state(state: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, no_color=not sys.stdout.isatty())
    table = Table(title=f"routecar health (config {state.get('config_hash', '?')})", header_style="bold")
    for col in ("deployment", "circuit", "open for", "cooldown", "headroom req/tok", "in flight",
                "ttft p50/p95/p99 ms", "latency p50/p95/p99 ms", "samples", "weight"):
        table.add_column(col)
    colors = {"closed": "green", "half_open": "yellow", "open": "red"}
    for dep_id, d in sorted((state.get("deployments") or {}).items()):
        circuit = str(d.get("state", "?"))
        head = d.get("headroom") or {}
        ttft = d.get("ttft_ms") or {}
        lat = d.get("latency_ms") or {}
        table.add_row(
            dep_id,
            f"[{colors.get(circuit, 'white')}]{circuit}[/]",
            _secs(d.get("open_until")),
            _secs(d.get("cooldown_s")),
            f"{head.get('remaining_requests', '-')}/{head.get('remaining_tokens', '-')}",
            str(d.get("in_flight", 0)),
            "/".join(_ms(ttft.get(k)) for k in ("p50", "p95", "p99")),
            "/".join(_ms(lat.get(k)) for k in ("p50", "p95", "p99")),
            str(d.get("samples", "-")),
            f"{d.get('effective_weight', '-')}",
        )
    console.print(table)
    extra = {k: v for k, v in state.items() if k not in ("deployments",)}
    console.print(extra)


def _secs(value: Any) -> str:
    return "-" if not value else f"{float(value):.1f}s"
