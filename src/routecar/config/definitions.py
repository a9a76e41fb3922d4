"""Every key of `sidecar.yaml`, described once: the loader validates with these descriptions,
and the JSON Schema (`routecar schema`) and the reference docs (docs/configuration.md) are
generated from them.

Where things are
- `SIDECAR` below: the top-level sections, in the order the docs and the schema list them.
- One module per section (server_section.py, providers_section.py, models_section.py,
  classifiers_section.py, routes.py with rules.py, resilience_section.py,
  route_log_section.py, shared_state.py): its shapes (UPPER_CASE names), then `build_*`,
  which runs after the per-key parsing and holds what no single key can check: bounds between
  keys (`max_open_for >= open_for`), references to other sections (unknown models, routes,
  providers), cycles, files to read; it turns the parsed `Values` into model.py's objects.
- kinds.py: scalar kinds (Str, Enum, Int, Number, Bool, Duration, Rate, Size, Regex);
  shapes.py: Key, Object, Map, List; alternatives.py: Either, Tagged.

How to add a key
1. Add its field, with its default, to the frozen dataclass in model.py.
2. Add one `Key` to the section's Object, beside its siblings; the default is read from the
   dataclass field of the same name:

       Key("max_retries", Int(min=0), "one line: what it does, for the docs and editors"),

3. Pass it on in the section's `build_*` (most do `SomeConfig(**values)`, nothing to do there),
   and check it there against other keys if it must.
4. Regenerate the schema and docs: `python -m routecar.config.docs`. Tests fail until they are
   current, and until the bad-value test's base document (tests/config/test_config_schema.py)
   reaches any new mapping or list.

A new section: an Object with `name=` and `example=` in its own module, a `Key` for it in
`SIDECAR`, its dataclass in model.py's `Config`, and a `build_*` call in loader.py. A provider
key only one `type` takes goes in providers_section.TYPE_KEYS; a new provider type is a new
entry of model.PROVIDER_TYPES. A value with a syntax of its own is a small Kind subclass next to
its section (see server_section.ListenKind).
"""

from __future__ import annotations

from .classifiers_section import CLASSIFIERS
from .models_section import MODELS
from .providers_section import PROVIDERS
from .resilience_section import RESILIENCE
from .route_log_section import ROUTE_LOG
from .routes import ROUTES
from .server_section import SERVER
from .shapes import Key, Object
from .shared_state import SHARED_STATE
from .telemetry_section import TELEMETRY

SIDECAR = Object(
    Key("server", SERVER, "sockets, request limits, SIGTERM drain"),
    Key("providers", PROVIDERS, "upstream endpoints by name: wire protocol, credentials, time budgets, limits",
        required=True),
    Key("models", MODELS, "the model slugs apps may request: where each is served, its price and fallbacks",
        required=True),
    Key("routes", ROUTES, "routing policies apps request by name like a model: strategy, rules, budget, cache"),
    Key("classifiers", CLASSIFIERS, "request classifiers whose labels route rules read as class.NAME"),
    Key("resilience", RESILIENCE, "failover, retry budget, circuit breaker, cooldowns, health checks"),
    Key("route_log", ROUTE_LOG, "the SQLite file of one row per request"),
    Key("shared_state", SHARED_STATE, "a Redis shared by every pod for budgets, limits and shared caches "
                                      "(left out: per-pod state)"),
    Key("telemetry", TELEMETRY, "OpenTelemetry traces and route rows for a collector, stdout or both "
                                "(left out: off)"),
    doc="routecar sidecar.yaml",
)

# The sections, in the order the docs and schema list them.
SECTIONS = tuple(SIDECAR.fixed)
