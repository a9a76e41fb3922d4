"""Route rules (`when` conditions, `then` actions) and cascade checks.

Regexes are compiled here, once per config load, so a bad pattern is a config error with the
regex engine's own message, and the router never compiles on the request path. The compiled
`re.Pattern` is stored under `matches` (it works with both `pattern.search(text)` and
`re.search(pattern, text)`).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any, Collection, Mapping

from .errors import found
from .fields import Node, join, suggest, unknown
from .model import STRATEGIES, CascadeConfig, ClassifierConfig, Rule, RuleAction
from .models_section import classifier_labels

_BOOL_CONDITIONS = ("has_tools", "has_images", "json_mode")
_INT_CONDITIONS = ("prompt_tokens_gt", "prompt_tokens_lt")
CONDITIONS = ("tags.KEY", *_INT_CONDITIONS, *_BOOL_CONDITIONS, "matches", "class.NAME")
CASCADE_CHECKS = ("json", "json_schema", "finish_reason", "non_empty")


def compile_regex(n: Node, key: str) -> re.Pattern[str] | None:
    pattern = n.str(key, allow_empty=False)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        n.error(key, f"invalid regex {pattern!r}: {exc}")
        return None


def _label(w: Node, key: str, kind: str) -> str | None:
    value = w.get(key)
    if isinstance(value, str) and value:
        return str(value)
    w.error(key, f"must be a {kind} (a non-empty string), got {found(value)}")
    return None


def _when(w: Node, classifiers: Mapping[str, ClassifierConfig]) -> dict[str, Any]:
    cond: dict[str, Any] = {}
    for key in list(w.data):
        path = join(w.path, key)
        if not isinstance(key, str):
            w.issues.error(path, f"unknown condition (conditions: {', '.join(CONDITIONS)})")
        elif key.startswith("tags.") and len(key) > 5:
            cond[key] = _label(w, key, "tag value")
        elif key.startswith("class.") and len(key) > 6:
            name = key[6:]
            label = _label(w, key, "classifier label")
            classifier = classifiers.get(name)
            if classifier is None:
                w.issues.error(path, unknown("classifier", name, classifiers))
            elif label is not None:
                labels = classifier_labels(classifier)
                if labels and label not in labels:
                    known = f"(labels: {', '.join(labels)}){suggest(label, labels)}"
                    w.issues.error(path, f"classifier {name!r} has no label {label!r} {known}")
            cond[key] = label
        elif key in _INT_CONDITIONS:
            cond[key] = w.int(key, None, min=0)
        elif key in _BOOL_CONDITIONS:
            cond[key] = w.bool(key, False)
        elif key == "matches":
            cond[key] = compile_regex(w, key)
        elif key in ("tags", "class"):
            example = "tags.team: billing" if key == "tags" else "class.difficulty: complex"
            w.issues.error(path, f"write one condition per {key} key, e.g. `{example}`")
        else:
            w.issues.error(path, f"unknown condition{suggest(key, CONDITIONS)} (conditions: {', '.join(CONDITIONS)})")
    gt, lt = cond.get("prompt_tokens_gt"), cond.get("prompt_tokens_lt")
    if gt is not None and lt is not None and lt <= gt + 1:
        w.error("prompt_tokens_lt", f"no prompt size is > {gt} and < {lt}; this rule can never match")
    return cond


def _then(t: Node, models: Collection[str]) -> RuleAction:
    if not t.data:
        t.issues.error(t.path, "must set at least one of candidates, strategy, model")
    candidates = t.names("candidates", "model", models, required=True) if "candidates" in t.data else None
    model = t.str("model")
    if model is not None and model not in models:
        t.error("model", unknown("model", model, models))
    if model is not None and candidates is not None:
        t.error("model", "set either model (pin one) or candidates (narrow the list), not both")
    return RuleAction(candidates=candidates, strategy=t.str("strategy", choices=STRATEGIES), model=model)


def parse_rules(r: Node, models: Collection[str], classifiers: Mapping[str, ClassifierConfig]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    catch_all: str | None = None
    for path, item in r.list("rules"):
        n = Node.of(r.issues, item, path, ("when", "then"), required=("when", "then"))
        if n is None:
            continue
        if catch_all is not None:
            r.issues.warn(path, f"unreachable: {catch_all} has an empty `when` and matches every request")
        w = n.node("when", None)
        t = n.node("then", ("candidates", "strategy", "model"))
        if w is None or t is None or not n.has("then"):
            continue
        if not w.data and n.has("when") and catch_all is None:
            catch_all = path
        rules.append(Rule(when=MappingProxyType(_when(w, classifiers)), then=_then(t, models)))
    return tuple(rules)


def parse_cascade(r: Node) -> CascadeConfig | None:
    c = r.section("cascade", ("checks",))
    if c is None:
        return None
    if not c.has("checks"):
        return CascadeConfig()
    checks: list[str | tuple[str, str]] = []
    for path, item in c.list("checks", required=True):
        if isinstance(item, str) and item in CASCADE_CHECKS:
            checks.append(str(item))
        elif isinstance(item, dict):
            check = Node.of(c.issues, item, path, ("regex",), required=("regex",))
            pattern = compile_regex(check, "regex") if check is not None else None
            if pattern is not None:
                checks.append(("regex", pattern.pattern))
        else:
            hint = suggest(item, CASCADE_CHECKS) if isinstance(item, str) else ""
            expected = f"one of {', '.join(CASCADE_CHECKS)} or {{regex: PATTERN}}"
            c.issues.error(path, f"must be {expected}, got {found(item)}{hint}")
    return CascadeConfig(checks=tuple(checks))

