"""The `llm` classifier: ask a small chat model which label fits the request.

Classification sits in front of routing, so it is on the request path: it is bounded by the
classifier's `timeout`, answers with `default` on any failure (a classifier outage must never
fail the request it was meant to route), and remembers answers by a hash of the prompt, so a
repeated prompt costs neither a call nor money.

The model's answer is parsed strictly: its first line, stripped of surrounding punctuation and
quotes, must equal one configured label (case-insensitive). A chatty answer ("The label is
complex") counts as no answer; guessing a label out of free text would route on noise.
"""

from __future__ import annotations

import asyncio
import logging
import string
import time
from hashlib import blake2b
from typing import Any, Awaitable, Callable, Mapping

from ..config.model import ClassifierConfig, ModelConfig
from ..router.cost import actual_cost
from ..router.plan import RoutingRequest
from .bounded import BoundedCache
from .result import ClassResult

log = logging.getLogger("routecar.content")

# call(model slug, canonical chat body) -> canonical chat.completion dict; provided by the
# server, it goes through the dispatcher (failover, health, limits) and may raise.
ChatCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]

DEFAULT_PROMPT = (
    "Classify the request below into exactly one of these labels: {labels}.\n"
    "Reply with the label only: one word from the list, no punctuation, no explanation.\n\n"
    "Request:\n{text}"
)
# The start of a prompt says what it is about; sending all of a long one would make the
# classifier cost as much as the answer it is meant to save.
MAX_TEXT_CHARS = 4000
# A label is a word or two; a small cap keeps a rambling model cheap and fast.
MAX_TOKENS = 16
MEMO_ENTRIES = 10_000
MEMO_TTL = 600.0

_STRIP = string.punctuation + string.whitespace + "“”‘’«»"


def parse_label(answer: str, labels: Mapping[str, str]) -> str | None:
    """The label `answer` names, or None. `labels` maps casefolded label -> label."""
    text = answer.strip()
    first = text.split("\n", 1)[0] if text else ""
    return labels.get(first.strip(_STRIP).casefold())


def answer_text(completion: Any) -> str:
    """The first choice's text of a chat.completion dict ("" when it has none)."""
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def render_prompt(template: str, labels: tuple[str, ...], text: str) -> str:
    # str.replace, not str.format: user text and custom templates may hold other braces.
    prompt = template.replace("{labels}", ", ".join(labels))
    if "{text}" not in prompt:
        return prompt + "\n\n" + text
    return prompt.replace("{text}", text)


class LLMClassifier:
    """One `type: llm` classifier. `model` (the classifier's catalog entry) prices its calls."""

    def __init__(self, cfg: ClassifierConfig, call: ChatCall, model: ModelConfig | None = None,
                 *, clock: Callable[[], float] = time.monotonic,
                 memo_entries: int = MEMO_ENTRIES, memo_ttl: float = MEMO_TTL) -> None:
        if not cfg.model:
            raise ValueError(f"classifier {cfg.name!r} has no model")
        self.cfg = cfg
        self.name = cfg.name
        self.labels: tuple[str, ...] = tuple(cfg.labels or ())
        self.default = cfg.default or ""
        self._by_fold = {label.casefold(): label for label in self.labels}
        self._template = cfg.prompt or DEFAULT_PROMPT
        self._call = call
        self._model = model
        self._clock = clock
        self._memo: BoundedCache[bytes, str] = BoundedCache(memo_entries, ttl=memo_ttl, clock=clock)

    def prompt_for(self, text: str) -> str:
        return render_prompt(self._template, self.labels, text[:MAX_TEXT_CHARS])

    def _body(self, prompt: str) -> dict[str, Any]:
        return {
            "model": self.cfg.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": MAX_TOKENS,
            "stream": False,
        }

    def _result(self, label: str, start: float, cost: float | None, source: str) -> ClassResult:
        return ClassResult(label, (self._clock() - start) * 1000.0, cost, source)

    def _cost(self, completion: Any) -> float | None:
        if self._model is None or not isinstance(completion, dict):
            return None
        usage = completion.get("usage")
        try:
            return actual_cost(self._model, usage if isinstance(usage, dict) else None)
        except (TypeError, ValueError):  # a provider's odd usage numbers are not our failure
            return None

    async def classify(self, req: RoutingRequest) -> ClassResult:
        start = self._clock()
        text = req.last_user_text
        if not text.strip():
            return self._result(self.default, start, None, "default")
        prompt = self.prompt_for(text)
        key = blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        remembered = self._memo.get(key)
        if remembered is not None:
            return self._result(remembered, start, 0.0, "cache")
        try:
            async with asyncio.timeout(self.cfg.timeout):
                completion = await self._call(self.cfg.model or "", self._body(prompt))
        except TimeoutError:
            return self._result(self.default, start, None, "timeout")
        except Exception as exc:  # noqa: BLE001 - any failure of the call means "no label"
            # Only the type: a provider's message could echo request details.
            log.debug("classifier %s: call failed (%s)", self.name, type(exc).__name__)
            return self._result(self.default, start, None, "error")
        cost = self._cost(completion)
        label = parse_label(answer_text(completion), self._by_fold)
        if label is None:
            label, source = self.default, "default"
        else:
            source = "model"
        # An unparseable answer is remembered too: the same prompt at temperature 0 would
        # produce it again, and paying for it twice gains nothing.
        self._memo.put(key, label)
        return self._result(label, start, cost, source)
