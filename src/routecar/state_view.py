"""`routecar state`: the CLI renderer of the admin plane's `GET /state`, for people.

Laid out for an 80-column terminal: one block per deployment (its full name on a line of its
own, then one labelled line per concern) rather than one wide table whose columns rich would
have to cut; the narrow tables left (providers, canaries, budgets) fold a long name over two
lines instead of cutting it. A section this version does not know (a newer sidecar's) is shown
by `state_view_generic` rather than as raw JSON. Machines read `routecar state --json`.

rich is imported by the functions that draw, so importing this module costs nothing.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import Any, Iterable

from .state_view_generic import fmt_value, kv_grid, label, section, table, text, unknown_section

CIRCUIT_STYLES = {"closed": "green", "half_open": "yellow", "open": "bold red"}
# Top-level sections drawn by this module; any other is drawn generically.
KNOWN = ("config_hash", "draining", "in_flight_requests", "deployments", "providers", "retry_budget",
         "route_log", "budget_ledger", "canary", "budgets")
# Deployment keys the block below places; others (a newer sidecar's) go on an `other` line.
DEPLOYMENT_KEYS = frozenset({
    "provider", "model", "state", "open_until", "trips", "consecutive_failures", "window_requests",
    "window_failures", "error_rate", "probes_in_flight", "cooldown_s", "consecutive_429", "headroom",
    "in_flight", "latency_ms", "ttft_ms", "samples", "ttft_samples", "base_weight", "effective_weight",
    "health_check",
})


def print_state(state: dict[str, Any], console: Any = None) -> None:
    """Draws `state` on `console` (default: stdout, coloured on a terminal)."""
    if console is None:
        from rich.console import Console

        console = Console(file=sys.stdout, no_color=not sys.stdout.isatty(), highlight=False)
    for part in render(state):
        console.print(part)


def render(state: dict[str, Any]) -> list[Any]:
    """The renderables, top to bottom."""
    parts: list[Any] = [_headline(state)]
    deployments = state.get("deployments")
    if isinstance(deployments, dict):
        parts.append(section(f"deployments ({len(deployments)})"))
        parts.append(_circuit_summary(deployments))
        for dep_id, dep in sorted(deployments.items()):
            parts.extend(_deployment(str(dep_id), dep if isinstance(dep, dict) else {"value": dep}))
    providers = state.get("providers")
    if isinstance(providers, dict) and providers:
        parts.append(section("providers"))
        parts.append(_providers(providers))
    parts.append(section("traffic"))
    parts.append(kv_grid(_traffic_rows(state)))
    if "canary" in state:
        parts.append(section("canary"))
        parts.append(_canaries(state["canary"]))
    if "budgets" in state:
        parts.append(section("budgets"))
        parts.append(_budgets(state["budgets"]))
    for key, value in state.items():
        if key not in KNOWN:
            parts.extend(unknown_section(key, value))
    return parts


def _headline(state: dict[str, Any]) -> Any:
    line = text("routecar state", "bold")
    line.append(f"   config {fmt_value(state.get('config_hash'))}   ")
    if state.get("draining"):
        line.append("DRAINING", "bold red")
    else:
        line.append("serving", "green")
    return line


def _circuit_summary(deployments: dict[str, Any]) -> Any:
    counts: dict[str, int] = {}
    for dep in deployments.values():
        circuit = str(dep.get("state", "?")) if isinstance(dep, dict) else "?"
        counts[circuit] = counts.get(circuit, 0) + 1
    if not counts:
        return text("none", "dim")
    line = text("circuits: ")
    for i, (circuit, n) in enumerate(sorted(counts.items())):
        if i:
            line.append(", ")
        line.append(f"{n} {circuit.replace('_', ' ')}", CIRCUIT_STYLES.get(circuit))
    return line


def _deployment(dep_id: str, d: dict[str, Any]) -> list[Any]:
    circuit = str(d.get("state", "?"))
    title = text("")
    title.append(dep_id, "bold cyan")
    title.append("  ")
    title.append(circuit.replace("_", " ").upper(), CIRCUIT_STYLES.get(circuit, "bold"))
    rows = [
        ("circuit", _circuit_line(circuit, d)),
        ("cooldown", _cooldown_line(d)),
        ("headroom", _headroom_line(d.get("headroom"))),
        ("latency", _window_line(d.get("latency_ms"), d.get("samples"))),
        ("ttft", _window_line(d.get("ttft_ms"), d.get("ttft_samples"))),
        ("load", (f"{fmt_value(d.get('in_flight', 0))} in flight, weight "
                  f"{fmt_value(d.get('effective_weight'))} of {fmt_value(d.get('base_weight'))}")),
        ("last check", _check_line(d.get("health_check"))),
    ]
    other = {k: v for k, v in d.items() if k not in DEPLOYMENT_KEYS}
    if other:
        rows.append(("other", " · ".join(f"{k} {fmt_value(v)}" for k, v in other.items())))
    return [title, kv_grid((k, v) for k, v in rows if v is not None), text("")]


def _circuit_line(circuit: str, d: dict[str, Any]) -> str:
    parts = []
    if circuit == "open" and d.get("open_until") is not None:
        parts.append(f"open for {_secs(d['open_until'])} more")
    if circuit == "half_open" or d.get("probes_in_flight"):
        parts.append(f"{fmt_value(d.get('probes_in_flight', 0))} probe(s) in flight")
    requests, failures = d.get("window_requests"), d.get("window_failures")
    if requests is not None:
        rate = d.get("error_rate")
        pct = f" ({float(rate) * 100:.0f}%)" if isinstance(rate, (int, float)) and requests else ""
        parts.append(f"{fmt_value(failures)} of {fmt_value(requests)} failed in the window{pct}")
    if d.get("consecutive_failures"):
        parts.append(f"{d['consecutive_failures']} failures in a row")
    parts.append(f"trips {fmt_value(d.get('trips', 0))}")
    return " · ".join(parts)


def _cooldown_line(d: dict[str, Any]) -> str | None:
    """Only while cooling down after a 429: a line of "none" on every block is noise."""
    if not d.get("cooldown_s"):
        return None
    streak = f" · {d['consecutive_429']} 429s in a row" if d.get("consecutive_429") else ""
    return f"{_secs(d['cooldown_s'])} left{streak}"


def _headroom_line(head: Any) -> str:
    """What the upstream's rate-limit headers say is left (the client-side limits are the
    provider's, in the providers table)."""
    if not isinstance(head, dict):
        return "-"
    parts = []
    for what in ("requests", "tokens"):
        left, limit, reset = (head.get(key) for key in (f"remaining_{what}", f"limit_{what}", f"reset_{what}_s"))
        if left is None and limit is None:
            continue
        part = f"{fmt_value(left)} of {fmt_value(limit)} {what} left"
        if reset is not None:
            part += f" (resets in {_secs(reset)})"
        parts.append(part)
    return " · ".join(parts) if parts else "no rate-limit headers seen"


def _window_line(window: Any, samples: Any) -> str:
    if not samples or not isinstance(window, dict):
        return "no samples yet"
    triple = " · ".join(f"{q} {_ms(window.get(q))}" for q in ("p50", "p95", "p99"))
    return f"{triple} ms ({samples} samples)"


def _check_line(check: Any) -> str:
    """The last active health check (they probe open circuits only)."""
    if not isinstance(check, dict):
        return "none yet"
    verdict = "ok" if check.get("ok") else "failed"
    when = f"{_secs(check.get('age_s'))} ago"
    if isinstance(check.get("at"), (int, float)):
        when += f" (at {datetime.fromtimestamp(check['at']).strftime('%H:%M:%S')})"
    reason = f": {check['reason']}" if check.get("reason") else ""
    return f"{verdict} {when}{reason}"


def _providers(providers: dict[str, Any]) -> Any:
    rows = []
    for name, p in sorted(providers.items()):
        p = p if isinstance(p, dict) else {}
        rows.append([label(str(name), "cyan"),
                     f"{fmt_value(p.get('in_flight'))} of {fmt_value(p.get('max_connections'))}",
                     _used_of(p.get("requests_last_60s"), p.get("rpm")),
                     _used_of(p.get("tokens_last_60s"), p.get("tpm"))])
    return table(["provider", "in flight (max)", "requests / 60s", "tokens / 60s"], rows)


def _used_of(used: Any, limit: Any) -> str:
    return f"{fmt_value(used)} of {fmt_value(limit)}" if limit is not None else f"{fmt_value(used)} (no limit)"


def _traffic_rows(state: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    yield "in flight", f"{fmt_value(state.get('in_flight_requests'))} requests"
    budget = state.get("retry_budget")
    if isinstance(budget, dict):
        yield "retry budget", (
            f"{fmt_value(budget.get('retries'))} retries for {fmt_value(budget.get('requests'))} requests "
            f"in the last {_secs(budget.get('window_s'))} · allows {fmt_value(budget.get('allowed'))} now "
            f"(ratio {fmt_value(budget.get('ratio'))}, floor {fmt_value(budget.get('min_per_second'))}/s)")
    log = state.get("route_log")
    if isinstance(log, dict):
        dropped = log.get("dropped")
        yield "route log", text(
            f"{fmt_value(log.get('written'))} written · {fmt_value(log.get('queue_depth'))} queued · "
            f"{fmt_value(dropped)} dropped", "red" if dropped else None)
    ledger = state.get("budget_ledger")
    if isinstance(ledger, dict):
        yield "budget ledger", (f"{fmt_value(ledger.get('path'))} · "
                                f"{fmt_value(ledger.get('unflushed_keys'))} key(s) not yet on disk")


def _canaries(canary: Any) -> Any:
    if not isinstance(canary, dict) or not canary:
        return text("no route has a canary", "dim")
    rows, why = [], []
    for route, c in sorted(canary.items()):
        c = c if isinstance(c, dict) else {}
        disabled = c.get("disabled")
        verdict = text("disabled", "bold red") if disabled else text("active", "green")
        if disabled:
            why.append((str(route), f"disabled: {disabled}"))
        rows.append([label(str(route), "cyan"), label(fmt_value(c.get("model"))),
                     f"{fmt_value(c.get('percent'))}%",
                     f"{fmt_value(c.get('canary_samples'))} / {fmt_value(c.get('baseline_samples'))}", verdict])
    drawn = table(["route", "canary model", "share", "samples canary / rest", "state"], rows)
    if not why:
        return drawn
    # Reasons go under the table: a sentence in a column would squeeze the model names.
    from rich.console import Group

    return Group(drawn, kv_grid(why))


def _budgets(budgets: Any) -> Any:
    if not isinstance(budgets, dict) or not budgets:
        return text("no route has a budget", "dim")
    rows = []
    for route, b in sorted(budgets.items()):
        b = b if isinstance(b, dict) else {}
        limit = b.get("limit_usd")
        when = fmt_value(b.get("when_exceeded"))
        if b.get("downgrade_to"):
            when += f" → {b['downgrade_to']}"
        spent = b.get("spent_usd") if isinstance(b.get("spent_usd"), dict) else {}
        scopes = spent or {f"{route}/{b.get('period')}": 0.0}
        for key, usd in sorted(scopes.items()):
            rows.append([label(str(route), "cyan"), _scope(str(key), str(route), b.get("period")), _usd(usd),
                         f"{_usd(limit)}/{fmt_value(b.get('period'))}", _used_pct(usd, limit), when,
                         _reset(b.get("resets_at"))])
    return table(["route", "scope", "spent", "limit", "used", "when over", "resets"], rows)


def _scope(key: str, route: str, period: Any) -> str:
    """`support/day` is the route's own budget; `support/day/team=a` one tag value's."""
    rest = key.removeprefix(f"{route}/{period}")
    return rest.lstrip("/") or "whole route"


def _used_pct(usd: Any, limit: Any) -> Any:
    if not isinstance(limit, (int, float)) or limit <= 0:
        return "-"
    pct = 100.0 * float(usd or 0) / limit
    return text(f"{pct:.1f}%", "bold red" if pct >= 100 else "yellow" if pct >= 80 else None)


def _reset(at: Any) -> str:
    try:
        when = datetime.fromisoformat(str(at))
    except ValueError:
        return fmt_value(at)
    return when.astimezone(timezone.utc).strftime("%b %d %H:%MZ")


def _usd(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    if value == int(value):
        return f"${int(value):,}"
    return f"${value:,.2f}" if value >= 1 else f"${value:.6f}".rstrip("0")


def _ms(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"  # sub-millisecond fakes and local models exist


def _secs(value: Any) -> str:
    return f"{float(value):.1f}s" if isinstance(value, (int, float)) else "-"
