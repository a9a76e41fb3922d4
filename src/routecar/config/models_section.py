"""The `models` section (what can answer, where, at what price) and the `classifiers` section.

What a model entry leaves out comes from the bundled catalog (model_catalog.py)."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Mapping

from .errors import found
from .fields import Issues, Node, join, unknown
from .model import CAPABILITIES, ClassifierConfig, Deployment, ModelConfig, Price, ProviderConfig
from .model_catalog import catalog_defaults

# Slugs are what apps put in `model`: anything without whitespace ("meta-llama/Llama-3-8b" too).
SLUG_RE = re.compile(r"\S+")
MODEL_KEYS = ("price", "context_window", "max_output_tokens", "capabilities", "quality", "deployments", "fallbacks")
CLASSIFIER_TYPES = ("heuristic", "llm", "embedding")
HEURISTIC_LABELS = ("simple", "moderate", "complex")
_CLASSIFIER_KEYS = {
    "heuristic": ("type",),
    "llm": ("type", "model", "labels", "timeout", "default", "prompt"),
    "embedding": ("type", "model", "labels", "min_similarity", "default", "timeout"),
}


def valid_names(issues: Issues, section: str, data: dict[Any, Any]) -> list[str]:
    """The usable names of a `models`/`routes`/`classifiers` mapping; bad ones are errors."""
    names: list[str] = []
    for name in data:
        if isinstance(name, str) and SLUG_RE.fullmatch(name):
            names.append(name)
        else:
            issues.error(join(section, name), f"names must be non-empty strings without spaces, got {found(name)}")
    return names


def _deployments(m: Node, slug: str, providers: Mapping[str, ProviderConfig]) -> tuple[Deployment, ...]:
    out: list[Deployment] = []
    seen: dict[str, str] = {}
    for path, item in m.list("deployments", required=True):
        d = Node.of(m.issues, item, path, ("provider", "model", "weight"), required=("provider",))
        if d is None:
            continue
        provider = d.str("provider")
        if provider is not None and provider not in providers:
            d.error("provider", unknown("provider", provider, providers))
            continue
        upstream = d.str("model", slug) or slug
        weight = d.number("weight", 1.0, gt=0)
        if provider is None or weight is None:
            continue
        deployment = Deployment(provider, upstream, weight)
        if deployment.id in seen:
            # Health state is keyed by provider/model: two entries would share one breaker.
            m.issues.error(path, f"duplicates {seen[deployment.id]} ({deployment.id})")
            continue
        seen[deployment.id] = path
        out.append(deployment)
    return tuple(out)


def _capabilities(m: Node) -> frozenset[str] | None:
    if not m.has("capabilities"):
        return None
    caps: set[str] = set()
    for path, item in m.list("capabilities"):
        if isinstance(item, str) and item in CAPABILITIES:
            caps.add(item)
        else:
            m.issues.error(path, f"must be one of {', '.join(CAPABILITIES)}, got {found(item)}")
    return frozenset(caps)


def parse_model(
    issues: Issues, slug: str, value: Any, slugs: list[str], providers: Mapping[str, ProviderConfig]
) -> ModelConfig | None:
    m = Node.of(issues, value, f"models.{slug}", MODEL_KEYS, required=("deployments",))
    if m is None:
        return None
    # What the file leaves out comes from the bundled catalog (by slug, else by the
    # deployments' upstream names); whatever the file says wins, field by field.
    defaults = catalog_defaults(slug, _upstream_names(m.get("deployments"), slug))
    price = _catalog_price(defaults)
    p = m.section("price", ("input", "output", "cached_input"))
    if p is not None:
        price = Price(
            input=p.number("input", 0.0, min=0) or 0.0,
            output=p.number("output", 0.0, min=0) or 0.0,
            cached_input=p.number("cached_input", None, min=0),
        )
    context_window = m.int("context_window", None, min=1)
    max_output = m.int("max_output_tokens", None, min=1)
    if context_window and max_output and max_output > context_window:
        m.error("max_output_tokens", f"must be <= context_window ({context_window}), got {max_output}")
    if context_window is None and not m.has("context_window"):
        context_window = defaults.get("context_window")
    if max_output is None and not m.has("max_output_tokens") and defaults.get("max_output_tokens"):
        # A catalog cap never exceeds a window the file set smaller.
        max_output = min(defaults["max_output_tokens"], context_window or defaults["max_output_tokens"])
    deployments = _deployments(m, slug, providers)
    fallbacks = m.names("fallbacks", "model", slugs)
    if slug in fallbacks:
        m.error("fallbacks", f"a model cannot fall back to itself ({slug!r})")
        fallbacks = tuple(f for f in fallbacks if f != slug)
    extra: dict[str, Any] = {}
    caps = _capabilities(m)
    if caps is None and defaults.get("capabilities"):
        caps = frozenset(c for c in defaults["capabilities"] if c in CAPABILITIES)
    if caps is not None:
        extra["capabilities"] = caps
    quality = m.number("quality", None)
    if quality is None and not m.has("quality"):
        quality = defaults.get("quality")
    return ModelConfig(
        slug=slug,
        deployments=deployments,
        price=price,
        context_window=context_window,
        max_output_tokens=max_output,
        quality=quality,
        fallbacks=fallbacks,
        **extra,
    )


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
    return Price(input=float(price.get("input", 0.0)), output=float(price.get("output", 0.0)),
                 cached_input=None if cached is None else float(cached))


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


def parse_models(issues: Issues, value: Any, providers: Mapping[str, ProviderConfig]) -> dict[str, ModelConfig]:
    n = Node.of(issues, value, "models", None)
    out: dict[str, ModelConfig] = {}
    if n is None:
        return out
    if not n.data:
        issues.error("models", "is required: at least one model")
    slugs = valid_names(issues, "models", n.data)
    for slug in slugs:
        model = parse_model(issues, slug, n.data[slug], slugs, providers)
        if model is not None:
            out[slug] = model
    _fallback_checks(issues, out)
    return out


def classifier_labels(c: ClassifierConfig) -> tuple[str, ...]:
    """The labels a classifier may produce, which `class.NAME` rule conditions may name."""
    if c.type == "heuristic":
        return HEURISTIC_LABELS
    labels = tuple(c.labels or ())
    return (*labels, c.default) if c.default and c.default not in labels else labels


def _llm_labels(n: Node) -> tuple[str, ...]:
    labels: list[str] = []
    for path, item in n.list("labels", required=True):
        if not isinstance(item, str) or not item:
            n.issues.error(path, f"must be a non-empty string, got {found(item)}")
        elif item in labels:
            n.issues.error(path, f"{item!r} is listed twice")
        else:
            labels.append(str(item))
    return tuple(labels)


def _embedding_labels(n: Node) -> Mapping[str, tuple[str, ...]]:
    labels: dict[str, tuple[str, ...]] = {}
    node = n.node("labels", None)
    if node is None or not n.has("labels"):
        return MappingProxyType(labels)
    if not node.data:
        n.error("labels", "must not be empty")
    for label in node.data:
        if not isinstance(label, str) or not label:
            n.issues.error(join(node.path, label), "labels must be non-empty strings")
            continue
        examples: list[str] = []
        for example_path, example in node.list(label, required=True):
            if isinstance(example, str) and example.strip():
                examples.append(str(example))
            else:
                n.issues.error(example_path, f"must be a non-empty example prompt, got {found(example)}")
        labels[label] = tuple(examples)
    return MappingProxyType(labels)


def parse_classifier(
    issues: Issues, name: str, value: Any, models: Mapping[str, ModelConfig]
) -> ClassifierConfig | None:
    path = f"classifiers.{name}"
    raw_type = value.get("type") if isinstance(value, dict) else None
    kind = raw_type if raw_type in _CLASSIFIER_KEYS else None
    keys = _CLASSIFIER_KEYS[kind] if kind else tuple({k for ks in _CLASSIFIER_KEYS.values() for k in ks})
    required = ("type", "model", "labels") if kind in ("llm", "embedding") else ("type",)
    n = Node.of(issues, value, path, keys, required=required)
    if n is None:
        return None
    n.str("type", choices=CLASSIFIER_TYPES)
    if kind is None:
        return None
    if kind == "heuristic":
        return ClassifierConfig(name=name, type=kind, labels=HEURISTIC_LABELS)
    model = n.str("model")
    if model is not None and model not in models:
        n.error("model", unknown("model", model, models))
    elif model is not None and (kind == "embedding") != models[model].is_embedding:
        need = "an embeddings model (capabilities: [embeddings])" if kind == "embedding" else "a chat model"
        n.error("model", f"an {kind} classifier needs {need}; {model!r} is not one")
    labels: Any = _llm_labels(n) if kind == "llm" else _embedding_labels(n)
    default = n.str("default")
    if kind == "llm" and default is not None and labels and default not in labels:
        n.error("default", f"must be one of the labels ({', '.join(labels)}), got {default!r}")
    return ClassifierConfig(
        name=name,
        type=kind,
        model=model,
        labels=labels,
        timeout=n.duration("timeout", 0.3, positive=True) or 0.3,
        min_similarity=n.rate("min_similarity", 0.6),
        default=default,
        prompt=n.str("prompt") if kind == "llm" else None,
    )


def parse_classifiers(issues: Issues, value: Any, models: Mapping[str, ModelConfig]) -> dict[str, ClassifierConfig]:
    n = Node.of(issues, value, "classifiers", None)
    out: dict[str, ClassifierConfig] = {}
    if n is None:
        return out
    for name in valid_names(issues, "classifiers", n.data):
        classifier = parse_classifier(issues, name, n.data[name], models)
        if classifier is not None:
            out[name] = classifier
    return out
