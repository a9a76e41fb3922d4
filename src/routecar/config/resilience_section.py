"""The `resilience` section (retries, circuit breaker, cooldowns, active health checks), and the
shapes providers use to override it (`retry_on`, `circuit_breaker`)."""

from __future__ import annotations

from typing import Any

from .errors import found
from .fields import Issues
from .kinds import (
    INVALID,
    Bool,
    Defs,
    Duration,
    Int,
    Kind,
    Number,
    Rate,
    Schema,
    with_env,
)
from .model import (
    RETRY_CLASSES,
    Backoff,
    BreakerConfig,
    HealthCheckConfig,
    ResilienceConfig,
    RetryBudget,
    RetryConfig,
)
from .hedge_section import HEDGE, build_hedge
from .shapes import Key, List, Object, Values


class RetryOutcome(Kind):
    """A status (100-599) or an outcome class; a 429 written as a number is the "429" class."""

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        ok_type = isinstance(value, (str, int)) and not isinstance(value, bool)
        text = str(value).strip() if ok_type else None
        if text in RETRY_CLASSES:
            return text
        if text is not None and text.isdigit() and 100 <= int(text) <= 599:
            return int(text)
        allowed = ", ".join(RETRY_CLASSES)
        return self.error(issues, path, f"must be a status (100-599) or one of {allowed}, got {found(value)}")

    def schema(self, defs: Defs) -> Schema:
        return with_env(
            defs,
            {"type": "integer", "minimum": 100, "maximum": 599},
            {"enum": list(RETRY_CLASSES)},
            {"type": "string", "pattern": r"^\s*[1-5][0-9]{2}\s*$"},
        )

    def type_name(self) -> str:
        return "status or " + ", ".join(f"`{c}`" for c in RETRY_CLASSES)

    def sort_key(self, value: Any) -> Any:
        return RETRY_CLASSES.index(value) if value in RETRY_CLASSES else len(RETRY_CLASSES) + int(value)


RETRY_ON = List(RetryOutcome(), name="retry_on")

BREAKER = Object(
    Key("window", Duration(positive=True), "rolling window over which a deployment's failures are counted"),
    Key("min_requests", Int(min=1), "no judgement on fewer requests than this in the window"),
    Key("failure_rate", Rate(positive=True), "open when this fraction of the window's requests failed..."),
    Key("consecutive_failures", Int(min=1), "...or after this many failures in a row"),
    Key("open_for", Duration(positive=True), "first open period; it doubles with each repeated trip"),
    Key("max_open_for", Duration(positive=True), "cap on the open period (never less than open_for)"),
    Key("half_open_probes", Int(min=1), "requests let through to test recovery when the open period ends"),
    defaults=BreakerConfig,
    name="breaker",
    doc="circuit breaker per deployment",
)

BACKOFF = Object(
    Key("base", Duration(), "wait before the first retry; doubles with each further one"),
    Key("max", Duration(), "cap on the wait between retries (at least base)"),
    defaults=Backoff,
    name="backoff",
)

RETRY_BUDGET = Object(
    Key("ratio", Rate(), "retries and failovers may add at most this share of live traffic..."),
    Key("min_per_second", Number(min=0), "...but are always allowed this many per second"),
    defaults=RetryBudget,
    name="retry_budget",
)

RETRY = Object(
    Key("max_attempts", Int(min=1), "attempts per request across deployments and fallbacks"),
    Key("retry_on", RETRY_ON, "outcomes that fail over: statuses and classes (429, 5xx, timeout, connect)"),
    Key("backoff", BACKOFF, "wait between attempts"),
    Key("budget", RETRY_BUDGET, "cap on retries as a share of traffic, so an outage cannot multiply load"),
    defaults=RetryConfig,
    name="retry",
)

HEALTH_CHECK = Object(
    Key("enabled", Bool(), "fetch an open circuit's provider models list to end its open period early"),
    Key("interval", Duration(positive=True), "time between checks of a provider with an open circuit"),
    Key("timeout", Duration(positive=True), "bound on one check (at most interval)"),
    defaults=HealthCheckConfig,
    name="health_check",
)

RESILIENCE = Object(
    Key("retry", RETRY, "attempts, which outcomes fail over, backoff, retry budget"),
    Key("circuit_breaker", BREAKER, "circuit breaker per deployment (each provider may override it)"),
    Key("max_cooldown", Duration(positive=True), "cap on a 429 cooldown, whatever the provider's reset header says"),
    Key("health_check", HEALTH_CHECK, "active health checks of open circuits"),
    Key("hedge", HEDGE, "hedged first tokens for every model (off when left out; a model's or route's own wins)"),
    defaults=ResilienceConfig,
    name="resilience",
    example="""\
resilience:
  retry: {max_attempts: 3, retry_on: [429, 5xx, timeout, connect]}
  circuit_breaker: {window: 30s, min_requests: 10, failure_rate: 0.5, consecutive_failures: 5, open_for: 30s, half_open_probes: 1}
  max_cooldown: 5m
  health_check: {enabled: true, interval: 5s, timeout: 2s}
""",
)


def build_breaker(issues: Issues, v: Values, base: BreakerConfig) -> BreakerConfig:
    """A breaker from `v`, each key not written taken from `base` (the global one, for overrides)."""
    fields = {name: v[name] if name in v.given else getattr(base, name) for name in BREAKER.fixed}
    if "max_open_for" not in v.given:
        # An unset cap never undercuts a longer open_for written next to it.
        fields["max_open_for"] = max(base.max_open_for, fields["open_for"])
    elif fields["max_open_for"] < fields["open_for"]:
        issues.error(v.path_of("max_open_for"),
                     f"must be >= open_for ({fields['open_for']:g}s), got {fields['max_open_for']:g}s")
    return BreakerConfig(**fields)


def _health_check(issues: Issues, v: Values) -> HealthCheckConfig:
    if v["timeout"] > v["interval"]:
        # A probe still waiting when the next one is due would only pile up behind it.
        issues.error(v.path_of("timeout"), f"must be <= interval ({v['interval']:g}s), got {v['timeout']:g}s")
    return HealthCheckConfig(**v)


def build_resilience(issues: Issues, value: Any) -> ResilienceConfig:
    v = RESILIENCE.parse(value, "resilience", issues)
    if v is INVALID:
        return ResilienceConfig()
    r = v["retry"]
    backoff = Backoff(**r["backoff"])
    if backoff.max < backoff.base:
        issues.error(r["backoff"].path_of("max"), f"must be >= backoff.base ({backoff.base:g}s), got {backoff.max:g}s")
    retry = RetryConfig(
        max_attempts=r["max_attempts"],
        retry_on=frozenset(r["retry_on"]),
        backoff=backoff,
        budget=RetryBudget(**r["budget"]),
    )
    return ResilienceConfig(
        retry=retry,
        circuit_breaker=build_breaker(issues, v["circuit_breaker"], BreakerConfig()),
        max_cooldown=v["max_cooldown"],
        health_check=_health_check(issues, v["health_check"]),
        hedge=build_hedge(v["hedge"], "hedge" in v.given),
    )
