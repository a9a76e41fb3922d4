"""The `heuristic` classifier: simple | moderate | complex from the shape of a prompt, no call.

It runs inline on the request path before routing, so it must cost microseconds whatever the
size of the request: only a bounded amount of text is scanned (8 KB: the last user message,
then a prefix of the rest of the conversation), keyword sets and the one regex are built once
at import, and prompt size comes from the router's token estimate, which has already walked the
whole body. `benchmarks/classifier_bench.py` measures it (~4 us short, ~30 us at the cap).

Each signal adds points; the total picks the label. The weights are deliberately coarse: this
is a cheap first cut for rules like `class.difficulty: complex -> strategy: quality`, not a
judge. Use an `llm` or `embedding` classifier when labels must be right more often.
"""

from __future__ import annotations

import re
from typing import Any

from ..router.plan import RoutingRequest

SIMPLE, MODERATE, COMPLEX = "simple", "moderate", "complex"

# Bounds on the text scanned per request: the last user message gets most of the budget, the
# rest of the conversation (system prompt first) only what is left, from the first messages.
SCAN_LAST_CHARS = 6 * 1024
SCAN_TOTAL_CHARS = 8 * 1024
MAX_MESSAGES_SCANNED = 32

# score <= SIMPLE_MAX -> simple; score >= COMPLEX_MIN -> complex; moderate in between.
SIMPLE_MAX = 1
COMPLEX_MIN = 4

# Prompt-size points: (upper bound in estimated tokens, points), first bound that holds wins.
_SIZE_POINTS = ((150, 0), (600, 1), (2000, 2), (8000, 3))
_SIZE_POINTS_MAX = 4

# Words and phrases are read only in the head of the last user message (its start and its
# end, where instructions sit; the middle is usually pasted material): splitting text into a
# word set costs ~10 ns a character, too much for 8 KB on every request. Markers of pasted code
# and mathematics are read over the whole scanned text with a few C-speed passes (in, count),
# a multi-character search gated by a one-character one (memchr) where it can be.
HEAD_START_CHARS = 768
HEAD_END_CHARS = 256

# Everything but letters, digits, "-" (trade-offs, step-by-step) and "'" becomes a word break.
_WORD_BREAKS = str.maketrans({c: " " for c in "!\"#$%&()*+,./:;<=>?@[\\]^_`{|}~\n\t\r"})

# Asking for code to be written or fixed: one verb and one noun of these in the head.
_CODE_VERBS = frozenset("write implement fix debug refactor optimize optimise port convert".split())
_CODE_NOUNS = frozenset(
    "function functions class classes script program code query regex algorithm endpoint module "
    "api test tests sql python javascript typescript rust golang java bash".split()
)
# Lines of code: keyword lines and C-like syntax in the head, indented lines anywhere.
_CODE_LINES = ("\ndef ", "\nclass ", "\nimport ", "\nfunction ")
_CODE_DENSITY = 0.01  # braces and semicolons per character
_CODE_DENSITY_MIN_CHARS = 80

# Proof-style reasoning is the strongest single signal of a hard request.
_PROOF_WORDS = frozenset("prove proof proofs derive derivation theorem lemma rigorous rigorously".split())
_MATH_WORDS = frozenset(
    "integral integrals derivative derivatives eigenvalue eigenvalues eigenvector eigenvectors "
    "matrix matrices probability equation equations polynomial logarithm".split()
)
_LATEX = ("\\frac", "\\int", "\\sum", "\\sqrt", "\\lim", "\\partial", "\\begin", "\\mathbb", "\\cdot")
_MATH_SIGNS = "∫∑∏√∂∞≤≥≠"
# Powers and small equations ("x^2", "3 * 4 = "), looked for in the head only.
_EQUATION = re.compile(r"[a-z)]\s*\^\s*[\d(a-z]|\d\s*[-+*/]\s*\d+\s*=")

# Multi-step or open-ended work; each distinct cue adds a point.
_MULTI_WORDS = frozenset(
    "compare contrast analyze analyse analysis design architecture architect tradeoffs trade-offs "
    "trade-off evaluate strategy comprehensive thorough thoroughly justify critique step-by-step".split()
)
_MULTI_PHRASES = ("step by step", "pros and cons", "in detail", "explain why")
# Items of a numbered or bulleted list in the head, one per line.
_LIST_MARKS = ("\n1", "\n2", "\n3")
_BULLETS = ("\n- ", "\n* ", "\n• ")
_LIST_ITEMS_MIN = 3

_MANY_MESSAGES = 8
_VERY_MANY_MESSAGES = 20


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = content[:MAX_MESSAGES_SCANNED]
        return "\n".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _scan_text(req: RoutingRequest, messages: list[Any]) -> str:
    """The last user message, then a prefix of the rest, within SCAN_TOTAL_CHARS."""
    last = req.last_user_text[:SCAN_LAST_CHARS]
    budget = SCAN_TOTAL_CHARS - len(last)
    if not messages or budget <= 0:
        return last
    last_user = -1
    # From the end: the last user message is almost always the last or second-to-last one.
    for i in range(len(messages) - 1, max(-1, len(messages) - 1 - MAX_MESSAGES_SCANNED), -1):
        msg = messages[i]
        if isinstance(msg, dict) and msg.get("role") == "user":
            last_user = i
            break
    parts = [last]
    for i, msg in enumerate(messages[:MAX_MESSAGES_SCANNED]):
        if i == last_user or not isinstance(msg, dict):
            continue
        text = _content_text(msg.get("content"))
        if text:
            parts.append(text[:budget])
            budget -= len(parts[-1])
            if budget <= 0:
                break
    return "\n".join(parts)


def _size_points(tokens: int) -> int:
    for bound, points in _SIZE_POINTS:
        if tokens < bound:
            return points
    return _SIZE_POINTS_MAX


def _head(last: str) -> str:
    if len(last) <= HEAD_START_CHARS + HEAD_END_CHARS:
        return last.lower()
    return (last[:HEAD_START_CHARS] + "\n" + last[-HEAD_END_CHARS:]).lower()


def _has_code_lines(text: str, head: str) -> bool:
    if "\n" in head and any(marker in head for marker in _CODE_LINES):
        return True
    if ("{" in head and ("){" in head or ") {" in head)) or (">" in head and "=>" in head):
        return True
    if "#" in head and "#include" in head:
        return True
    return ("\t" in text and "\n\t" in text) or "\n    " in text


def _code_points(text: str, head: str, words: set[str]) -> int:
    points = 0
    if "`" in text and "```" in text:
        points += 2
    elif _has_code_lines(text, head):
        points += 1
    if len(text) >= _CODE_DENSITY_MIN_CHARS and (text.count("{") + text.count(";")) >= _CODE_DENSITY * len(text):
        points += 1
    if not words.isdisjoint(_CODE_VERBS) and not words.isdisjoint(_CODE_NOUNS):
        points += 2
    return min(points, 3)


def _math_points(text: str, head: str, words: set[str]) -> int:
    if not words.isdisjoint(_PROOF_WORDS):
        return 4
    if not words.isdisjoint(_MATH_WORDS):
        return 2
    if "\\" in text and any(cmd in text for cmd in _LATEX):
        return 2
    if "$$" in head or (not head.isascii() and any(sign in head for sign in _MATH_SIGNS)):
        return 2
    if ("^" in head or "=" in head) and _EQUATION.search(head) is not None:
        return 2
    return 0


def _multi_points(head: str, words: set[str]) -> int:
    cues = len(words & _MULTI_WORDS) + sum(1 for phrase in _MULTI_PHRASES if phrase in head)
    if "first" in words and "then" in words:
        cues += 1
    # The first cue is worth two: "compare A and B" is already more than a lookup.
    points = cues + 1 if cues else 0
    if head.count("\n") >= _LIST_ITEMS_MIN:
        numbered = sum(1 for mark in _LIST_MARKS if mark in head)
        bullets = sum(head.count(mark) for mark in _BULLETS) if numbered < _LIST_ITEMS_MIN else 0
        if numbered >= _LIST_ITEMS_MIN or bullets >= _LIST_ITEMS_MIN:
            points += 1
    return min(points, 4)


def heuristic_score(req: RoutingRequest) -> int:
    """The points behind `classify_heuristic`'s label (exposed for `explain` and tuning)."""
    raw = req.body.get("messages") if isinstance(req.body, dict) else None
    messages: list[Any] = raw if isinstance(raw, list) else []
    text = _scan_text(req, messages)
    head = _head(req.last_user_text)
    words = set(head.translate(_WORD_BREAKS).split())
    score = _size_points(req.est_prompt_tokens)
    score += _code_points(text, head, words) + _math_points(text, head, words) + _multi_points(head, words)
    if req.has_tools:
        score += 1
    if len(messages) >= _VERY_MANY_MESSAGES:
        score += 2
    elif len(messages) >= _MANY_MESSAGES:
        score += 1
    return score


def classify_heuristic(req: RoutingRequest) -> str:
    """`simple`, `moderate` or `complex` for this request, in microseconds and without I/O."""
    score = heuristic_score(req)
    if score <= SIMPLE_MAX:
        return SIMPLE
    return COMPLEX if score >= COMPLEX_MIN else MODERATE
