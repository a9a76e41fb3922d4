"""The `classifiers` section: request labels that route rules read as `class.NAME`.

The keys a classifier takes depend on its `type`; a key both `llm` and `embedding` take is
declared once and listed in both."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

from .alternatives import Tagged
from .fields import Issues, unknown
from .kinds import INVALID, Duration, Rate, Str
from .model import ClassifierConfig, ModelConfig
from .models_section import SLUG_MESSAGE, SLUG_PATTERN
from .shapes import Entries, Key, List, Map, Values

HEURISTIC_LABELS = ("simple", "moderate", "complex")

MODEL = Key("model", Str(), "the model slug that classifies (a chat model for llm, an embeddings model for embedding)",
            required=True)
TIMEOUT = Key("timeout", Duration(positive=True), "bound on the classifying call; on timeout the default label applies")
DEFAULT = Key("default", Str(), "label when the call fails, times out, or (embedding) nothing is similar enough")
LLM_LABELS = Key("labels", List(Str(what="a label"), min_items=1, unique=True),
                 "labels the model chooses from", required=True)
EXAMPLES = List(Str(pattern=r"[\s\S]*\S[\s\S]*", message="must be a non-empty example prompt"), min_items=1)
EMBEDDING_LABELS = Key("labels", Map(EXAMPLES, placeholder="LABEL", key_message="labels must be non-empty strings",
                                          entry_doc="example prompts of this label"),
                       "example prompts per label; a request takes the label of its most similar example",
                       required=True)
PROMPT = Key("prompt", Str(), "the classifying prompt; {labels} and {text} are filled in (default: a built-in one)")
MIN_SIMILARITY = Key("min_similarity", Rate(), "cosine similarity below which the default label applies")

CLASSIFIER = Tagged(
    "type",
    "heuristic (simple, moderate, complex; no call), llm (asks a chat model) or embedding (nearest examples)",
    (),
    {
        "heuristic": (),
        "llm": (MODEL, LLM_LABELS, TIMEOUT, DEFAULT, PROMPT),
        "embedding": (MODEL, EMBEDDING_LABELS, MIN_SIMILARITY, DEFAULT, TIMEOUT),
    },
    defaults=ClassifierConfig,
    name="classifier",
    doc="a request classifier",
)

CLASSIFIERS = Map(
    CLASSIFIER,
    key_pattern=SLUG_PATTERN,
    key_message=SLUG_MESSAGE,
    example="""\
classifiers:
  difficulty: {type: heuristic}                       # simple | moderate | complex, no call
  judge: {type: llm, model: gpt-4o-mini, labels: [simple, moderate, complex], timeout: 300ms, default: moderate}
  topic: {type: embedding, model: embed-small, min_similarity: 0.6, default: other,
          labels: {billing: ["refund my order", "update my card"], tech: ["the app crashes on start"]}}
""",
)


def classifier_labels(c: ClassifierConfig) -> tuple[str, ...]:
    """The labels a classifier may produce, which `class.NAME` rule conditions may name."""
    if c.type == "heuristic":
        return HEURISTIC_LABELS
    labels = tuple(c.labels or ())
    return (*labels, c.default) if c.default and c.default not in labels else labels


def _classifier(issues: Issues, name: str, v: Values, models: Mapping[str, ModelConfig]) -> ClassifierConfig | None:
    kind = v["type"]
    if kind is None:
        return None  # a type that is missing or unknown has its own error
    if kind == "heuristic":
        return ClassifierConfig(name=name, type=kind, labels=HEURISTIC_LABELS)
    model = v["model"]
    if model is not None and model not in models:
        issues.error(v.path_of("model"), unknown("model", model, models))
    elif model is not None and (kind == "embedding") != models[model].is_embedding:
        need = "an embeddings model (capabilities: [embeddings])" if kind == "embedding" else "a chat model"
        issues.error(v.path_of("model"), f"an {kind} classifier needs {need}; {model!r} is not one")
    labels: Any
    if kind == "llm":
        labels = tuple(v["labels"] or ())
    else:
        labels = MappingProxyType({label: tuple(examples) for label, examples in (v["labels"] or {}).items()})
    default = v["default"]
    if kind == "llm" and default is not None and labels and default not in labels:
        issues.error(v.path_of("default"), f"must be one of the labels ({', '.join(labels)}), got {default!r}")
    # Keys this type does not take keep ClassifierConfig's defaults.
    rest = {k: v[k] for k in ("timeout", "min_similarity", "default", "prompt") if k in v}
    return ClassifierConfig(name=name, type=kind, model=model, labels=labels, **rest)


def build_classifiers(issues: Issues, value: Any, models: Mapping[str, ModelConfig]) -> dict[str, ClassifierConfig]:
    entries = CLASSIFIERS.parse(value, "classifiers", issues)
    if entries is INVALID:
        return {}
    assert isinstance(entries, Entries)
    out: dict[str, ClassifierConfig] = {}
    for name, v in entries.items():
        classifier = _classifier(issues, name, v, models)
        if classifier is not None:
            out[name] = classifier
    return out
