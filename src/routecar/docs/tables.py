"""Markdown tables rendered from the code: route-log columns, outcomes, attempt_log keys,
schema migrations and metric families.

The names, types and order come from the code (routelog/schema.py, routelog/record.py,
dispatch/values.py, the metrics registry); the one-line meanings are kept here, next to the
renderer, and every render checks that the two agree: a column, outcome, attempt key or
migration added to the code without a meaning here fails `python -m routecar.docs` and the
docs test, naming what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from ..dispatch.values import AttemptRecord
from ..routelog.record import OUTCOMES, RouteRecord
from ..routelog.schema import BOOL_COLUMNS, COLUMNS, JSON_COLUMNS, MIGRATIONS, SCHEMA_VERSION, TABLE

# -- route log ---------------------------------------------------------------------------------

COLUMN_DOCS: Mapping[str, str] = {
    "ts": "Unix seconds (fractional) when the request arrived.",
    "request_id": "`x-routecar-request-id` as the app sent it (cut to 128 characters; only "
                  "`A-Za-z0-9._:/+=@#-`), else generated (`rc-<6 hex>-<hex counter>`). Also on every answer.",
    "endpoint": "`chat`, `embeddings`, `messages` or `responses`: the entry point called.",
    "requested_model": "The body's `model` as sent: a model slug or a route name (NULL when the body was unreadable).",
    "route": "The route that planned the request; NULL when the app named a model slug. After a budget "
             "downgrade, the route it was downgraded to.",
    "strategy": "The strategy that ranked the candidates (after rules).",
    "chosen_model": "Catalog slug that answered. When every attempt failed: the slug of the last attempt. "
                    "On a cache hit: the slug that produced the stored answer.",
    "provider": "Provider (config name) that answered, or that the last failed attempt went to. NULL on a cache hit.",
    "upstream_model": "The model name the provider was sent (the deployment's `model`).",
    "status": "HTTP status the app got; 499 when the app closed the connection first.",
    "outcome": "How the request ended: one of the [outcomes](#outcomes).",
    "attempts": "Upstream attempts made (hedges included); 0 for a cache hit or a request refused before dispatch.",
    "attempt_log": "JSON array, one object per upstream attempt in order: see "
                   "[attempt_log entries](#attempt_log-entries).",
    "latency_ms": "Whole request inside routecar, arrival to the last byte written (a stream's end included).",
    "ttft_ms": "Arrival to the first content chunk written to the app; streamed answers only (NULL otherwise).",
    "prompt_tokens": "From the answer's `usage` (NULL when the upstream reported none).",
    "completion_tokens": "From the answer's `usage` (NULL when the upstream reported none).",
    "cost_usd": "True cost in USD: the answer's usage at the model's `price`, plus answers a cascade discarded, "
                "hedges that lost, and the request's classifier and semantic-cache calls. NULL without usage.",
    "est_cost_usd": "Estimate made before dispatch for the first candidate (what budgets check). On a cache "
                    "hit: the cost of the original answer, i.e. what the hit saved.",
    "stream": "1 when the app asked for a stream.",
    "reason": "Why this model, in words: strategy, rule, canary, downgrade, failover, escalation, cache hit.",
    "skipped": "JSON array of candidates passed over: `{slug, deployment, why, retry_in_s?}`; `why` is e.g. "
               "`circuit_open`, `cooling_down`, `no_headroom`, `rpm_limit`, `tpm_limit`, `context too small ...`, "
               "`retry budget exhausted`, `route 'X' over budget ...`, `canary: ...`.",
    "candidates": "JSON array of the plan's candidates in order: `{slug, deployment, reason, score, step}` "
                  "(`step`: cascade step, else 0).",
    "rules_matched": "JSON array of the route rules that matched, e.g. `[\"rules[0]: tags.team\"]`.",
    "tags": "JSON object from `x-routecar-tags` (`{}` when none).",
    "shadow_model": "What the route's `shadow` strategy would have chosen (never enforced).",
    "overhead_ms": "Time spent inside routecar: `latency_ms` less upstream attempts, rate-limit waits, backoff "
                   "and side calls. Same value as the `x-routecar-overhead-ms` header.",
    "config_hash": "Hash of the config the request ran on (`/readyz` and `routecar_config_info` show the live one).",
    "cache": "`miss`, `hit`, `semantic_hit`, or empty (no cache on the route, or the request was not eligible).",
    "classes": "JSON object, per classifier: `{label, source, latency_ms, cost_usd?, score?}`; `source` is "
               "`model`, `cache`, `timeout`, `default`, `unprepared` or `heuristic`.",
    "error_message": "Why the request did not end well, as the app was told (or a stream's break detail); "
                     "scrubbed of API keys. NULL on success.",
    "escalations": "Cascade escalations (answers that failed their checks).",
    "fallback": "1 when a model other than the first planned answered (per cascade step).",
    "canary": "1 when the plan put the route's canary model first.",
    "prompt": "JSON: the request's `messages` (or `input`); only with `route_log.record_prompts: true`.",
    "response": "JSON: the answer as sent to the app; only with `route_log.record_prompts: true` (unary answers).",
    "est_prompt_tokens": "Router input: estimated prompt tokens (for `routecar replay`). NULL before schema v3 "
                         "and when the body was never parsed (same for the five below).",
    "est_output_tokens": "Router input: output tokens planned for (the request's cap, else an estimate).",
    "has_tools": "Router input: 1 when the request offers tools.",
    "has_images": "Router input: 1 when the request carries images.",
    "json_mode": "Router input: 1 when the request asks for JSON output.",
    "json_schema": "Router input: 1 when `response_format.type` is `json_schema`.",
}

OUTCOME_DOCS: Mapping[str, str] = {
    "ok": "An answer was delivered whole (a cache hit included).",
    "upstream_error": "Every attempt failed upstream (502), an upstream 5xx that does not fail over, or routecar "
                      "refused the request for itself (503 `draining`, 503 `shared_state_unavailable`, 500).",
    "rate_limited": "Every candidate answered 429, was cooling down, or was over its rpm/tpm or reported "
                    "headroom, and no reset came within the wait allowed (429).",
    "circuit_open": "Every candidate's circuit was open and the panic probe failed or could not be sent (503).",
    "timeout": "The request deadline passed, or every attempt timed out (504).",
    "stream_broken": "A stream failed after its first byte reached the app, or a drain ended it; the app got an "
                     "explicit error event.",
    "client_cancelled": "The app closed the connection before the answer was complete (status 499).",
    "bad_request": "The request was refused: bad body or header (400), too large (413), unknown model (404), "
                   "nothing eligible (400), or an upstream's non-retryable 4xx passed on.",
    "budget_rejected": "The route was over its budget with `when_exceeded: reject` (429 `budget_exceeded`).",
}

ATTEMPT_DOCS: Mapping[str, str] = {
    "provider": "Provider (config name) the attempt went to.",
    "model": "Upstream model name sent to it.",
    "slug": "Catalog slug of the deployment.",
    "status": "HTTP status the upstream answered; null without an answer (connect error, timeout).",
    "error": "null on success, else the error class: `connect`, `timeout`, `first_token_timeout`, "
             "`idle_timeout`, `http_429`, `http_5xx`, `http_<status>` (other 4xx), `malformed`, `stream_broken`, "
             "`cancelled` (the app hung up), `sidecar_shutdown` (a drain ended the stream), `hedge_lost`.",
    "latency_ms": "Attempt start to its end (a stream's: to its last event).",
    "ttft_ms": "Attempt start to its first content chunk; streams only, else null.",
    "check": "Cascade steps only: `passed` or `failed: CHECK`.",
    "hedge": "Present (true) when the attempt was started by a hedge.",
    "lost": "Present (true) when the attempt lost a hedge race and was cancelled.",
    "cost_usd": "Lost attempts only: their cost, billed to the request.",
    "cost_estimated": "Lost attempts only: true when that cost is the prompt estimate, not upstream usage.",
    "span_id": "Present when `telemetry.otlp` is set: the attempt's CLIENT span id (its traceparent went upstream).",
    "detail": ("Failed attempts with no HTTP answer: why, in a few words (`connect timeout`, a proxy's refusal); "
               "an HTTP error handled as another status: the error's name (`ServiceQuotaExceededException`, "
               "a Bedrock 400 failed over as a 429). Redacted, at most 200 characters."),
}
# Keys written only when they apply (AttemptRecord.as_dict).
_OPTIONAL_ATTEMPT_KEYS = frozenset({"check", "hedge", "lost", "cost_usd", "cost_estimated", "span_id", "detail"})
# Values that make `as_dict` write every optional key.
_ATTEMPT_SAMPLE = {"check": "passed", "hedge": True, "lost": True, "cost_usd": 0.0, "span_id": "0", "detail": "connect timeout"}

MIGRATION_DOCS: Mapping[int, str] = {
    1: "Creates the table with its first columns; indexes on `ts`, `request_id`, `chosen_model`, `provider`, `route`.",
    2: "Drops the indexes on `chosen_model`, `provider` and `route` (write cost; queries work without them).",
    3: "Adds the router's inputs, for `routecar replay`.",
}


class StaleDocs(Exception):
    """The code and the meanings kept in this module disagree."""


def _agree(kind: str, in_code: Iterable[object], documented: Iterable[object]) -> None:
    code, docs = list(in_code), set(documented)
    missing = [str(n) for n in code if n not in docs]
    extra = sorted(str(n) for n in docs - set(code))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no meaning for {kind} {', '.join(missing)} (add it to routecar/docs/tables.py)")
        if extra:
            parts.append(f"{kind} {', '.join(extra)} documented but not in the code")
        raise StaleDocs("; ".join(parts))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _kind(name: str, sqltype: str) -> str:
    note = " (JSON)" if name in JSON_COLUMNS else " (0/1)" if name in BOOL_COLUMNS else ""
    return f"`{sqltype}`{note}"


def route_log_columns() -> str:
    _agree("column", (n for n, _ in COLUMNS), COLUMN_DOCS)
    fields = set(RouteRecord.__dataclass_fields__)
    not_fields = [n for n, _ in COLUMNS if n not in fields]
    if not_fields:
        raise StaleDocs(f"columns {not_fields} are not RouteRecord fields")
    added_in = {name: m.version for m in MIGRATIONS for name, _ in m.add_columns}
    lines = [f"Table `{TABLE}`, schema version {SCHEMA_VERSION} (`PRAGMA user_version`), in table order.",
             "", "| column | type | since | meaning |", "| --- | --- | --- | --- |",
             "| `id` | `INTEGER PRIMARY KEY` | v1 | Row id; grows with each row written. |"]
    for name, sqltype in COLUMNS:
        lines.append(f"| `{name}` | {_kind(name, sqltype)} | v{added_in.get(name, 1)} | {_cell(COLUMN_DOCS[name])} |")
    return "\n".join(lines)


def outcomes() -> str:
    _agree("outcome", OUTCOMES, OUTCOME_DOCS)
    lines = ["| outcome | when |", "| --- | --- |"]
    lines += [f"| `{name}` | {_cell(OUTCOME_DOCS[name])} |" for name in OUTCOMES]
    return "\n".join(lines)


def attempt_keys() -> str:
    _agree("attempt_log key", AttemptRecord._fields, ATTEMPT_DOCS)
    sample = AttemptRecord("p", "m", "s", 200, None, 1.0)._replace(
        **{k: v for k, v in _ATTEMPT_SAMPLE.items() if k in AttemptRecord._fields})
    written = set(sample.as_dict())
    _agree("attempt_log key", sorted(written), ATTEMPT_DOCS)
    lines = ["| key | always | meaning |", "| --- | --- | --- |"]
    for name in AttemptRecord._fields:
        always = "no" if name in _OPTIONAL_ATTEMPT_KEYS else "yes"
        lines.append(f"| `{name}` | {always} | {_cell(ATTEMPT_DOCS[name])} |")
    return "\n".join(lines)


def migrations() -> str:
    _agree("migration", (m.version for m in MIGRATIONS), MIGRATION_DOCS)
    lines = ["| version | change | columns added |", "| --- | --- | --- |"]
    for m in MIGRATIONS:
        added = ", ".join(f"`{n}`" for n, _ in m.add_columns) or "—"
        lines.append(f"| {m.version} | {_cell(MIGRATION_DOCS[m.version])} | {added} |")
    return "\n".join(lines)


# -- metrics -----------------------------------------------------------------------------------

def _fed_metrics():  # type: ignore[no-untyped-def]
    """A `Metrics` with one sample in every family, so each family's labels can be read from
    its samples (the public `Metric` API has names, types, help texts and samples)."""
    from ..observability.metrics import Metrics  # prometheus-client: only when rendering

    m = Metrics(version="0", process_metrics=False, clock=lambda: 0.0)
    m.set_health_source(lambda: {"deployments": {"p/m": {"state": "closed", "cooldown_s": 0.0, "in_flight": 0}}})
    m.set_route_log_source(lambda: (0, 0, 0))
    m.set_budget_source(lambda: {"r/day": ("pod", 0.0)})
    m.set_shared_source(lambda: {"available": True, "unavailable_seconds": 0.0, "calls": {"ok": 1}})
    m.set_telemetry_source(lambda: ({("traces", "exported"): 1}, 0))
    m.set_config_hash("0")
    m.config_reloaded(True, "0")
    m.queue_wait(0.1)
    m.retry_budget_exhausted()
    m.health_check("p", True)
    answered = RouteRecord(0.0, "a", "chat", requested_model="r", route="r", strategy="ordered", chosen_model="m",
                           provider="p", upstream_model="m", status=200, outcome="ok", attempts=1,
                           attempt_log=[{"provider": "p", "model": "m", "slug": "m", "error": None}],
                           latency_ms=1.0, ttft_ms=1.0, prompt_tokens=1, completion_tokens=1, cost_usd=0.1,
                           overhead_ms=0.1, cache="miss", escalations=1, fallback=True)
    hit = RouteRecord(0.0, "b", "chat", requested_model="r", route="r", chosen_model="m", status=200,
                      outcome="ok", latency_ms=1.0, est_cost_usd=0.1, cache="hit")
    m.observe(answered)
    m.observe(hit)
    return m


def metric_families() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(exposed name, type, help, label names) of every routecar_* family, in exposition order."""
    registry = _fed_metrics().registry
    out = []
    for family in registry.collect():
        if not family.samples:
            raise StaleDocs(f"metric family {family.name} has no sample: feed it one in routecar/docs/tables.py "
                            "so its labels can be listed")
        labels: list[str] = []
        for sample in family.samples:
            for name in sample.labels:
                if name != "le" and name not in labels:
                    labels.append(name)
        exposed = family.name + "_total" if family.type == "counter" else family.name
        out.append((exposed, family.type, family.documentation, tuple(labels)))
    return out


def metrics() -> str:
    lines = ["| metric | type | labels | meaning |", "| --- | --- | --- | --- |"]
    for name, kind, doc, labels in metric_families():
        shown = ", ".join(f"`{label}`" for label in labels) or "—"
        lines.append(f"| `{name}` | {kind} | {shown} | {_cell(doc)} |")
    return "\n".join(lines)


# Block name -> renderer; a page holds a block as `<!-- generated:NAME -->` ... `<!-- end generated -->`.
BLOCKS: Mapping[str, Callable[[], str]] = {
    "route-log-columns": route_log_columns,
    "route-log-outcomes": outcomes,
    "route-log-attempt-keys": attempt_keys,
    "route-log-migrations": migrations,
    "metric-families": metrics,
}

__all__ = ["ATTEMPT_DOCS", "BLOCKS", "COLUMN_DOCS", "MIGRATION_DOCS", "OUTCOME_DOCS", "StaleDocs",
           "metric_families"]
