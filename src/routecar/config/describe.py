"""The human-readable summary `routecar check` prints: what the sidecar will do with a config.

Credentials are reported only as "set" or "unset", and header values not at all.
"""

from __future__ import annotations

from .durations import format_duration as dur
from .durations import format_size
from .model import BreakerConfig, Config, HealthCheckConfig, ModelConfig, ProviderConfig, RouteConfig


def _money(usd: float) -> str:
    return f"${usd:.2f}" if round(usd, 2) == usd else f"${usd:g}"


def _breaker(b: BreakerConfig) -> str:
    return (
        f"opens at {b.failure_rate:.0%} failures of >= {b.min_requests} in {dur(b.window)} "
        f"or {b.consecutive_failures} in a row, for {dur(b.open_for)} (max {dur(b.max_open_for)}), "
        f"{b.half_open_probes} half-open probe(s)"
    )


def _health_check(h: HealthCheckConfig) -> str:
    if not h.enabled:
        return "off (an open circuit waits out its open time)"
    return f"every {dur(h.interval)} while a circuit is open (timeout {dur(h.timeout)}), models list of its provider"


def _retry_on(values: frozenset[int | str]) -> str:
    return ", ".join(sorted((str(v) for v in values), key=lambda v: (not v[0].isdigit(), v))) or "nothing"


def _model_lines(m: ModelConfig) -> list[str]:
    price = f"{_money(m.price.input)} in / {_money(m.price.output)} out per 1M tokens"
    if m.price.cached_input is not None:
        price += f" ({_money(m.price.cached_input)} cached in)"
    if m.price.cache_write is not None:
        price += f" ({_money(m.price.cache_write)} cache write)"
    facts = [price]
    if m.context_window:
        facts.append(f"context {m.context_window}")
    if m.max_output_tokens:
        facts.append(f"max output {m.max_output_tokens}")
    if m.quality is not None:
        facts.append(f"quality {m.quality:g}")
    facts.append("capabilities " + ",".join(sorted(m.capabilities)))
    deployments = ", ".join(f"{d.id} (weight {d.weight:g})" for d in m.deployments)
    lines = [f"  {m.slug}: " + "; ".join(facts), f"    deployments: {deployments}"]
    if m.fallbacks:
        lines.append("    fallbacks: " + " -> ".join(m.fallbacks))
    return lines


def _route_lines(r: RouteConfig) -> list[str]:
    if r.strategy == "weighted" and r.weights:
        candidates = ", ".join(f"{slug} (weight {r.weights.get(slug, 1.0):g})" for slug in r.candidates)
    else:
        candidates = ", ".join(r.candidates)
    lines = [f"  {r.name}: strategy {r.strategy}; candidates {candidates}"]
    extras: list[str] = []
    if r.rules:
        extras.append(f"{len(r.rules)} rule(s)")
    if r.cascade is not None:
        checks = ", ".join(c if isinstance(c, str) else f"{c[0]} {c[1]!r}" for c in r.cascade.checks)
        extras.append(f"cascade checks: {checks}")
    if r.budget is not None:
        b = r.budget
        action = f"downgrade to {b.downgrade_to}" if b.when_exceeded == "downgrade" else "reject"
        per = f" per {b.per_tag}" if b.per_tag else ""
        extras.append(f"budget {_money(b.usd)}/{b.period}{per}, then {action}")
    if r.canary is not None:
        extras.append(f"canary {r.canary.model} {r.canary.percent:g}%")
    if r.shadow is not None:
        extras.append(f"shadow {r.shadow.strategy}")
    if r.cache is not None:
        if r.cache.exact is not None:
            shared = ", shared through Redis" if r.cache.exact.shared else ""
            extras.append(f"exact cache {dur(r.cache.exact.ttl)}, {r.cache.exact.max_entries} entries{shared}")
        if r.cache.semantic is not None:
            s = r.cache.semantic
            extras.append(f"semantic cache via {s.model} at >= {s.min_similarity:g}, {dur(s.ttl)}")
    if r.balance:
        extras.append("balance " + ", ".join(f"{k} {v:g}" for k, v in r.balance.items()))
    if r.max_ttft_p99 is not None:
        extras.append(f"max p99 TTFT {dur(r.max_ttft_p99)}")
    if extras:
        lines.append("    " + "; ".join(extras))
    return lines


def _credentials(p: ProviderConfig) -> str:
    """How a provider authenticates, never with what."""
    if p.type == "bedrock":
        return f"region {p.region}, credentials: " + ("static keys" if p.aws_access_key_id else "AWS chain")
    if p.type == "vertex":
        source = "key file" if p.credentials_file else "application default"
        return f"project {p.project}, location {p.location}, credentials: {source}"
    return "key: " + ("set" if p.api_key else "unset")


def format_config(config: Config) -> str:
    """A summary of providers, models, routes, classifiers, resilience, route log and warnings."""
    s = config.server
    out = [
        f"config {config.source or '<string>'} (hash {config.hash or '-'})",
        f"server: listen {s.listen}, admin {s.admin_listen}, max body {format_size(s.max_body_bytes)}, "
        f"drain {dur(s.drain_timeout)}",
        "",
        "providers:",
    ]
    for p in config.providers.values():
        t = p.timeouts
        out.append(
            f"  {p.name}: {p.type} {p.base_url}; {_credentials(p)}; timeouts connect {dur(t.connect)}, "
            f"first token {dur(t.first_token)}, total {dur(t.total)}; max {p.max_connections} connections"
        )
        if p.limits.rpm or p.limits.tpm:
            out.append(f"    limits: rpm {p.limits.rpm or '-'}, tpm {p.limits.tpm or '-'}")
        if p.retry_on is not None:
            out.append(f"    retry on: {_retry_on(p.retry_on)}")
        if p.circuit_breaker is not None:
            out.append(f"    circuit breaker: {_breaker(p.circuit_breaker)}")
        if p.proxy is not None:  # host and port only: the credentials are never printed
            out.append(f"    proxy: {p.proxy}" + (" (with credentials)" if p.proxy.username is not None else ""))
        if p.tls is not None:
            files = [f"{k} {getattr(p.tls, k)}" for k in ("ca_file", "cert_file", "key_file") if getattr(p.tls, k)]
            out.append("    tls: " + ", ".join(files))
    out += ["", "models:"]
    for m in config.models.values():
        out += _model_lines(m)
    out += ["", "routes:" if config.routes else "routes: (none; requests name model slugs)"]
    for r in config.routes.values():
        out += _route_lines(r)
    if config.classifiers:
        out += ["", "classifiers:"]
        for c in config.classifiers.values():
            labels = list(c.labels) if c.labels else []
            model = f" via {c.model}" if c.model else ""
            default = f", default {c.default}" if c.default else ""
            out.append(f"  {c.name}: {c.type}{model}; labels {', '.join(labels)}{default}")
    retry = config.resilience.retry
    log = config.route_log
    ret = log.retention
    keep = " / ".join(
        x for x in (dur(ret.max_age) if ret.max_age else "", f"{ret.max_rows} rows" if ret.max_rows else "") if x
    )
    out += [
        "",
        f"resilience: up to {retry.max_attempts} attempts, failing over on {_retry_on(retry.retry_on)}; "
        f"retry budget {retry.budget.ratio:.0%} of traffic (min {retry.budget.min_per_second:g}/s); "
        f"429 cooldown capped at {dur(config.resilience.max_cooldown)}",
        f"circuit breaker: {_breaker(config.resilience.circuit_breaker)}",
        f"health checks: {_health_check(config.resilience.health_check)}",
        f"route log: {log.path} (flush every {dur(log.flush_interval)}, keep {keep or 'everything'}, "
        f"prompts {'recorded' if log.record_prompts else 'not recorded'})",
    ]
    shared = config.shared_state
    if shared is not None:
        r = shared.redis
        fallback = ("this pod's own state" if shared.on_unavailable == "local" else "503 for requests that need it")
        out.append(f"shared state: Redis {r.display_url} (keys {r.key_prefix or '(no prefix)'}v1:..., timeout "
                   f"{dur(r.timeout)}, {r.max_connections} connections); when unavailable: {fallback}")
    else:
        out.append("shared state: none (budgets, limits and caches are per pod)")
    if config.warnings:
        out += ["", "warnings:"] + [f"  - {w}" for w in config.warnings]
    return "\n".join(out)
