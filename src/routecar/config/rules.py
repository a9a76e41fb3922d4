"""Route rules (`when` conditions, `then` actions) and cascade checks.

Regexes are compiled here, once per config load (see kinds.Regex). The compiled `re.Pattern`
is stored under `matches` (it works with both `pattern.search(text)` and
`re.search(pattern, text)`).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Collection, Mapping

from .classifiers_section import classifier_labels
from .errors import found
from .fields import Issues, suggest, unknown
from .kinds import INVALID, Bool, Defs, Enum, Int, Kind, Regex, Schema, Str, with_env
from .model import STRATEGIES, CascadeConfig, ClassifierConfig, Rule, RuleAction
from .shapes import Key, List, Object, Values

CASCADE_CHECKS = ("json", "json_schema", "finish_reason", "non_empty")


def _unknown_condition(key: Any, path: str, issues: Issues) -> None:
    if key in ("tags", "class"):
        example = "tags.team: billing" if key == "tags" else "class.difficulty: complex"
        issues.error(path, f"write one condition per {key} key, e.g. `{example}`")
        return
    listed = ", ".join(k.name for k in WHEN.keys)
    hint = suggest(key, [k.name for k in WHEN.keys]) if isinstance(key, str) else ""
    issues.error(path, f"unknown condition{hint} (conditions: {listed})")


# A rule holds when every condition written holds; a condition left out is no condition.
WHEN = Object(
    Key("tags.KEY", Str(what="a tag value"), "the request's tag KEY (x-routecar-tags) has this value",
        pattern=r"tags\..+"),
    Key("prompt_tokens_gt", Int(min=0), "the prompt has more tokens than this"),
    Key("prompt_tokens_lt", Int(min=0), "the prompt has fewer tokens than this"),
    Key("has_tools", Bool(), "the request offers tools (true) or does not (false)"),
    Key("has_images", Bool(), "the request carries images (true) or does not (false)"),
    Key("json_mode", Bool(), "the request asks for JSON output (true) or does not (false)"),
    Key("matches", Regex(), "regex that matches the last user message (Python syntax, e.g. (?i) for any case)"),
    Key("class.NAME", Str(what="a classifier label"), "classifier NAME labelled the request with this label",
        pattern=r"class\..+"),
    sparse=True,
    on_unknown=_unknown_condition,
    name="rule_when",
)

THEN = Object(
    Key("candidates", List(Str(), min_items=1, unique=True), "narrow the candidates to these models"),
    Key("strategy", Enum(STRATEGIES), "rank with this strategy instead"),
    Key("model", Str(), "pin this one model"),
    name="rule_then",
)

RULE = Object(
    Key("when", WHEN, "conditions, all of which must hold ({} matches every request)", required=True),
    Key("then", THEN, "what to do: candidates, strategy or model", required=True),
    name="rule",
)

RULES = List(RULE)


class CascadeCheck(Kind):
    """One check of a cascade step's answer: a name, or {regex: PATTERN}."""

    REGEX = Object(Key("regex", Regex(), "the answer must match this regex", required=True), name="regex_check")

    def parse(self, value: Any, path: str, issues: Issues) -> Any:
        if isinstance(value, str) and value in CASCADE_CHECKS:
            return str(value)
        if isinstance(value, dict):
            v = self.REGEX.parse(value, path, issues)
            if v is INVALID or v["regex"] is None:
                return INVALID
            return ("regex", v["regex"].pattern)
        hint = suggest(value, CASCADE_CHECKS) if isinstance(value, str) else ""
        expected = f"one of {', '.join(CASCADE_CHECKS)} or {{regex: PATTERN}}"
        return self.error(issues, path, f"must be {expected}, got {found(value)}{hint}")

    def schema(self, defs: Defs) -> Schema:
        return with_env(defs, {"enum": list(CASCADE_CHECKS)}, self.REGEX.json(defs))

    def type_name(self) -> str:
        return "one of " + ", ".join(f"`{c}`" for c in CASCADE_CHECKS) + " or `{regex: PATTERN}`"

    def show(self, value: Any) -> Any:
        return {"regex": value[1]} if isinstance(value, tuple) else value


CASCADE = Object(
    Key("checks", List(CascadeCheck(), min_items=1),
        "checks an answer must pass, else the next (larger) candidate is asked"),
    defaults=CascadeConfig,
    name="cascade",
)


def _when(issues: Issues, w: Values, classifiers: Mapping[str, ClassifierConfig]) -> dict[str, Any]:
    cond = dict(w)
    for key, label in w.items():
        if not key.startswith("class."):
            continue
        name = key[6:]
        classifier = classifiers.get(name)
        if classifier is None:
            issues.error(w.path_of(key), unknown("classifier", name, classifiers))
        else:
            labels = classifier_labels(classifier)
            if labels and label not in labels:
                known = f"(labels: {', '.join(labels)}){suggest(label, labels)}"
                issues.error(w.path_of(key), f"classifier {name!r} has no label {label!r} {known}")
    gt, lt = cond.get("prompt_tokens_gt"), cond.get("prompt_tokens_lt")
    if gt is not None and lt is not None and lt <= gt + 1:
        issues.error(w.path_of("prompt_tokens_lt"), f"no prompt size is > {gt} and < {lt}; this rule can never match")
    return cond


def _then(issues: Issues, t: Values, models: Collection[str]) -> RuleAction:
    if not t.raw:
        issues.error(t.path, "must set at least one of candidates, strategy, model")
    candidates = None
    if "candidates" in t.given:
        candidates = []
        for path, slug in t.located("candidates"):
            if slug in models:
                candidates.append(slug)
            else:
                issues.error(path, unknown("model", slug, models))
    model = t["model"]
    if model is not None and model not in models:
        issues.error(t.path_of("model"), unknown("model", model, models))
    if model is not None and candidates is not None:
        issues.error(t.path_of("model"), "set either model (pin one) or candidates (narrow the list), not both")
    return RuleAction(candidates=None if candidates is None else tuple(candidates), strategy=t["strategy"], model=model)


def build_rules(
    issues: Issues, r: Values, models: Collection[str], classifiers: Mapping[str, ClassifierConfig]
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    catch_all: str | None = None
    for path, rule in r.located("rules"):
        if catch_all is not None:
            issues.warn(path, f"unreachable: {catch_all} has an empty `when` and matches every request")
        if "when" not in rule.given or "then" not in rule.given:
            continue  # missing or not a mapping: already an error
        if not rule["when"] and catch_all is None:
            catch_all = path
        rules.append(Rule(when=MappingProxyType(_when(issues, rule["when"], classifiers)),
                          then=_then(issues, rule["then"], models)))
    return tuple(rules)


def build_cascade(r: Values) -> CascadeConfig | None:
    if "cascade" not in r.given:
        return None
    return CascadeConfig(checks=tuple(r["cascade"]["checks"]))
