"""The `models` section: what can answer, where, at what price.

What a model entry leaves out comes from the bundled catalog (model_catalog.py)."""

from __future__ import annotations

from typing import Any, Mapping

from .fields import Issues, unknown
from .kinds import INVALID, Enum, Int, Number, Str
from .model import CAPABILITIES, Deployment, ModelConfig, Price, ProviderConfig
from .hedge_section import HEDGE, build_hedge
from .model_catalog import catalog_defaults
from .shapes import Entries, Key, List, Map, Object, Values

# Slugs are what apps put in `model`: anything without whitespace ("meta-llama/Llama-3-8b" too).
# Route and classifier names follow the same rule.
SLUG_PATTERN = r"\S+"
SLUG_MESSAGE = "names must be non-empty strings without spaces, got {found}"

PRICE = Object(
    Key("input", Number(min=0), "USD per 1M prompt tokens"),
    Key("output", Number(min=0), "USD per 1M completion tokens"),
    Key("cached_input", Number(min=0), "USD per 1M cached prompt tokens (default: the input price)"),
    Key("cache_write", Number(min=0), "USD per 1M prompt tokens written to the provider's cache "
                                      "(Anthropic cache_creation_input_tokens; default: the input price)"),
    defaults=Price,
    name="price",
)

DEPLOYMENT = Object(
    Key("provider", Str(), "name of a provider in `providers`", required=True),
    Key("model", Str(), "model name the provider knows (default: the slug)"),
    Key("weight", Number(gt=0), "share of traffic among the model's healthy deployments"),
    defaults=Deployment,
    name="deployment",
)

MODEL = Object(
    Key("price", PRICE, "USD per 1M tokens; the catalog's price when left out"),
    Key("context_window", Int(min=1), "prompt + completion tokens it takes (default: from the catalog)"),
    Key("max_output_tokens", Int(min=1), "most completion tokens it produces (default: from the catalog)"),
    Key("capabilities", List(Enum(CAPABILITIES, say_type=True)),
        "what it can do; requests needing more skip it (default: from the catalog, else this)"),
    Key("quality", Number(), "ranking input of the quality and balanced strategies, 0 to 1 (default: from the catalog)"),
    Key("deployments", List(DEPLOYMENT, min_items=1), "where it is served", required=True),
    Key("fallbacks", List(Str(), unique=True), "models tried in order when every deployment fails or is unavailable"),
    Key("hedge", HEDGE, "race a second attempt when the first has no first token after `after` (default: the "
                        "route's, else resilience.hedge)"),
    Key("balancing", Enum(("weighted", "least_request")),
        "how requests pick a deployment: weighted random, or least_request (two random picks, fewer "
        "in-flight requests per unit of weight wins)"),
    defaults=ModelConfig,
    name="model",
    doc="a model apps may name, with its deployments",
)

MODELS = Map(
    MODEL,
    placeholder="SLUG",
    key_pattern=SLUG_PATTERN,
    key_message=SLUG_MESSAGE,
    min_items=1,
    empty_message="is required: at least one model",
    example="""\
models:
  gpt-4o-mini:
    price: {input: 0.15, output: 0.60}          # USD per 1M tokens
    context_window: 128000
    deployments:
      - {provider: openai, model: gpt-4o-mini, weight: 3}
      - {provider: local,  model: qwen2.5-7b,  weight: 1}
    fallbacks: [claude-haiku]
  claude-haiku:
    price: {input: 0.80, output: 4.00}
    deployments:
      - {provider: anthropic, model: claude-3-5-haiku-latest}
  embed-small:
    capabilities: [embeddings]
    deployments:
      - {provider: openai, model: text-embedding-3-small}
""",
)


def _deployments(issues: Issues, v: Values, slug: str, providers: Mapping[str, ProviderConfig]) -> tuple[Deployment, ...]:
    out: list[Deployment] = []
    seen: dict[str, str] = {}
    for path, d in v.located("deployments"):
        provider = d["provider"]
        if provider is None:
            continue
        if provider not in providers:
            issues.error(d.path_of("provider"), unknown("provider", provider, providers))
            continue
        deployment = Deployment(provider, d["model"] or slug, d["weight"])
        if deployment.id in seen:
            # Health state is keyed by provider/model: two entries would share one breaker.
            issues.error(path, f"duplicates {seen[deployment.id]} ({deployment.id})")
            continue
        seen[deployment.id] = path
        out.append(deployment)
    return tuple(out)


def _upstream_names(raw: Any, slug: str) -> list[str]:
    """Upstream model names as written (validation reports bad entries separately)."""
    if not isinstance(raw, list):
        return []
    return [str(d.get("model") or slug) for d in raw if isinstance(d, dict)]


def _catalog_price(defaults: Mapping[str, Any]) -> Price:
    price = defaults.get("price")
    if not isinstance(price, dict):
        return Price()
    cached = price.get("cached_input")
    write = price.get("cache_write")
    return Price(input=float(price.get("input", 0.0)), output=float(price.get("output", 0.0)),
                 cached_input=None if cached is None else float(cached),
                 cache_write=None if write is None else float(write))


def _model(issues: Issues, slug: str, v: Values, slugs: list[str], providers: Mapping[str, ProviderConfig]) -> ModelConfig:
    # What the file leaves out comes from the bundled catalog (by slug, else by the
    # deployments' upstream names); whatever the file says wins, field by field.
    defaults = catalog_defaults(slug, _upstream_names(v.raw.get("deployments"), slug))
    price = Price(**v["price"]) if "price" in v.given else _catalog_price(defaults)
    context_window = v["context_window"]
    max_output = v["max_output_tokens"]
    if context_window and max_output and max_output > context_window:
        issues.error(v.path_of("max_output_tokens"), f"must be <= context_window ({context_window}), got {max_output}")
    if v.raw.get("context_window") is None:
        context_window = defaults.get("context_window")
    if v.raw.get("max_output_tokens") is None and defaults.get("max_output_tokens"):
        # A catalog cap never exceeds a window the file set smaller.
        max_output = min(defaults["max_output_tokens"], context_window or defaults["max_output_tokens"])
    fallbacks = []
    for path, target in v.located("fallbacks"):
        if target not in slugs:
            issues.error(path, unknown("model", target, slugs))
        elif target == slug:
            issues.error(v.path_of("fallbacks"), f"a model cannot fall back to itself ({slug!r})")
        else:
            fallbacks.append(target)
    if "capabilities" in v.given:
        capabilities = frozenset(v["capabilities"])
    elif defaults.get("capabilities"):
        capabilities = frozenset(c for c in defaults["capabilities"] if c in CAPABILITIES)
    else:
        capabilities = v["capabilities"]
    quality = v["quality"]
    if v.raw.get("quality") is None:
        quality = defaults.get("quality")
    return ModelConfig(
        slug=slug,
        deployments=_deployments(issues, v, slug, providers),
        price=price,
        context_window=context_window,
        max_output_tokens=max_output,
        capabilities=capabilities,
        quality=quality,
        fallbacks=tuple(fallbacks),
        hedge=build_hedge(v["hedge"], "hedge" in v.given),
        balancing=v["balancing"],
    )


def _fallback_checks(issues: Issues, models: Mapping[str, ModelConfig]) -> None:
    for slug, model in models.items():
        for target in model.fallbacks:
            other = models.get(target)
            if other is not None and other.is_embedding != model.is_embedding:
                kinds = ("an embeddings", "a chat") if other.is_embedding else ("a chat", "an embeddings")
                issues.error(
                    f"models.{slug}.fallbacks",
                    f"{target!r} is {kinds[0]} model but {slug!r} is {kinds[1]} model",
                )
    reported: set[frozenset[str]] = set()
    for start in models:
        for cycle in _cycles_from(start, models):
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                issues.error(f"models.{cycle[0]}.fallbacks", "fallback cycle " + " -> ".join(cycle))


def _cycles_from(start: str, models: Mapping[str, ModelConfig]) -> list[list[str]]:
    """Cycles through `start`, found by a depth-first walk bounded by the number of models."""
    found_cycles: list[list[str]] = []
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        slug, trail = stack.pop()
        for nxt in models[slug].fallbacks if slug in models else ():
            if nxt == start:
                found_cycles.append([*trail, start])
            elif nxt not in seen and nxt in models:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return found_cycles


def build_models(issues: Issues, value: Any, providers: Mapping[str, ProviderConfig]) -> dict[str, ModelConfig]:
    entries = MODELS.parse(value, "models", issues)
    if entries is INVALID:
        return {}
    assert isinstance(entries, Entries)
    out = {slug: _model(issues, slug, v, entries.names, providers) for slug, v in entries.items()}
    _fallback_checks(issues, out)
    return out
