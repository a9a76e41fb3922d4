"""Route rules: first match wins, evaluated before the strategy.

Each rule is compiled once per config snapshot into one predicate (a closure over its
conditions' precompiled values), so a request pays for attribute reads and at most one
substring or regex search per rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable

from ..config.model import Rule, RuleAction
from .plan import RoutingRequest

Predicate = Callable[[RoutingRequest], bool]

CONDITIONS = (
    "tags.KEY", "prompt_tokens_gt", "prompt_tokens_lt", "has_tools", "has_images", "json_mode",
    "matches", "class.NAME",
)


def _all_of(tests: tuple[Predicate, ...]) -> Predicate:
    """One predicate for a rule: the condition itself when there is one (the common rule)."""
    if not tests:
        return lambda req: True
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda req: first(req) and second(req)

    def every(req: RoutingRequest) -> bool:
        for test in tests:
            if not test(req):
                return False
        return True

    return every


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    label: str  # "rules[1]: matches" — what `plan.rules_matched` records
    tests: tuple[Predicate, ...]
    action: RuleAction
    test: Predicate = field(init=False, repr=False, compare=False)  # all of `tests`

    def __post_init__(self) -> None:
        object.__setattr__(self, "test", _all_of(self.tests))

    def matches(self, req: RoutingRequest) -> bool:
        return self.test(req)


def _accepted(value: Any) -> frozenset[str]:
    """A condition value as the set of strings it accepts (a scalar or a list of them)."""
    values = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    return frozenset(str(v).lower() if isinstance(v, bool) else str(v) for v in values)


_LITERALS = re.compile(r"[A-Za-z0-9_ \-|]+")


def _literal_alternation(compiled: re.Pattern[str]) -> tuple[bool, tuple[str, ...]] | None:
    """(case-insensitive, words) when the regex is an alternation of plain ASCII words."""
    if compiled.flags & ~(re.IGNORECASE | re.UNICODE):
        return None  # multiline, verbose, ...: leave it to the regex engine
    fold = bool(compiled.flags & re.IGNORECASE)
    body = compiled.pattern
    if body.startswith("(?i)"):
        body = body[4:]
    if not body or _LITERALS.fullmatch(body) is None:
        return None
    return fold, tuple(w.lower() if fold else w for w in body.split("|"))


def _contains_any(text: str, words: tuple[str, ...], fold: bool) -> bool:
    if fold:
        text = text.lower()
    for word in words:
        if word in text:
            return True
    return False


def _keyword_test(words: tuple[str, ...], fold: bool) -> Predicate:
    if len(words) == 1:
        (word,) = words
        if fold:
            return lambda req: word in req.last_user_text.lower()
        return lambda req: word in req.last_user_text
    if len(words) == 2 and fold:  # "(?i)passport|social security"
        first, second = words

        def either(req: RoutingRequest) -> bool:
            text = req.last_user_text.lower()
            return first in text or second in text

        return either
    return lambda req: _contains_any(req.last_user_text, words, fold)


def _compile_condition(key: str, value: Any, where: str) -> Predicate:
    if key.startswith("tags.") and len(key) > 5:
        tag, accepted = key[5:], _accepted(value)
        return lambda req: req.tags.get(tag) in accepted
    if key.startswith("class.") and len(key) > 6:
        name, accepted = key[6:], _accepted(value)
        return lambda req: req.classes.get(name) in accepted
    if key in ("prompt_tokens_gt", "prompt_tokens_lt"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}.{key}: expected a number of tokens, got {value!r}")
        limit = value
        if key == "prompt_tokens_gt":
            return lambda req: req.est_prompt_tokens > limit
        return lambda req: req.est_prompt_tokens < limit
    if key in ("has_tools", "has_images", "json_mode"):
        if not isinstance(value, bool):
            raise ValueError(f"{where}.{key}: expected true or false, got {value!r}")
        read, want = attrgetter(key), value
        return lambda req: read(req) is want
    if key == "matches":
        # The loader hands over a compiled pattern; a plain string (tests, tools) works too.
        try:
            compiled = value if isinstance(value, re.Pattern) else re.compile(str(value))
        except re.error as exc:
            raise ValueError(f"{where}.matches: invalid regex: {exc}") from None
        search = compiled.search
        literal = _literal_alternation(compiled)
        if literal is not None:
            # Keyword lists ("(?i)passport|social security") are the common case, and
            # substring search is ~20x faster than the regex engine on a long prompt.
            fold, words = literal
            return _keyword_test(words, fold)
        return lambda req: search(req.last_user_text) is not None
    raise ValueError(f"{where}: unknown condition '{key}' (one of: {', '.join(CONDITIONS)})")


def compile_rules(rules: tuple[Rule, ...], route_name: str) -> tuple[CompiledRule, ...]:
    compiled = []
    for i, rule in enumerate(rules):
        where = f"routes.{route_name}.rules[{i}].when"
        tests = tuple(_compile_condition(k, v, where) for k, v in rule.when.items())
        label = f"rules[{i}]: {', '.join(rule.when) or 'always'}"
        compiled.append(CompiledRule(index=i, label=label, tests=tests, action=rule.then))
    return tuple(compiled)


def first_match(rules: tuple[CompiledRule, ...], req: RoutingRequest) -> CompiledRule | None:
    for rule in rules:
        if rule.test(req):
            return rule
    return None


def describe_action(action: RuleAction) -> str:
    parts = []
    if action.model:
        parts.append(f"pinned model {action.model}")
    if action.candidates is not None:
        parts.append(f"candidates [{', '.join(action.candidates)}]")
    if action.strategy:
        parts.append(f"strategy {action.strategy}")
    return ", ".join(parts) or "no change"
