"""Canonical request parameters a protocol has no equivalent for: refused by name, or dropped
and noted when the provider says `drop_unsupported_params`.

Each parameter comes with a test of the values that change nothing (e.g. `n: 1`), which are
accepted silently so the common SDK defaults never fail a request.
"""

from __future__ import annotations

from typing import Any, Callable

from ..config.model import ProviderConfig
from .base import Translation, UnsupportedParam
from .request_translation import TranslationError

Inert = Callable[[Any], bool]


def is_none(value: Any) -> bool:
    return value is None


def is_falsy(value: Any) -> bool:
    return not value


def is_zero(value: Any) -> bool:
    return value is None or value == 0


def is_one(value: Any) -> bool:
    return value is None or value == 1


def is_text_only(value: Any) -> bool:
    return value is None or value == ["text"]


# OpenAI parameters that not every protocol has, with the values that change nothing, in the
# order they are checked (and so named in an error, or listed as dropped).
OPENAI_EXTRAS: dict[str, Inert] = {
    "n": is_one,
    "logprobs": is_falsy,
    "top_logprobs": is_zero,
    "presence_penalty": is_zero,
    "frequency_penalty": is_zero,
    "logit_bias": is_falsy,
    "seed": is_none,
    "audio": is_none,
    "modalities": is_text_only,
    "prediction": is_none,
    "reasoning_effort": is_none,
    "web_search_options": is_none,
    "functions": is_none,
    "function_call": is_none,
}


def extras_except(*supported: str) -> dict[str, Inert]:
    """OPENAI_EXTRAS without the ones a protocol does have."""
    return {name: inert for name, inert in OPENAI_EXTRAS.items() if name not in supported}


def check_unsupported(
    body: dict[str, Any], unsupported: dict[str, Inert], provider: ProviderConfig, provider_type: str, notes: Translation
) -> None:
    """Raise UnsupportedParam for a parameter in `unsupported` with a value that matters, or,
    when the provider allows it, drop it and note it."""
    for name, is_inert in unsupported.items():
        if name not in body or is_inert(body[name]):
            continue
        if not provider.drop_unsupported_params:
            raise UnsupportedParam(name, provider_type)
        if name not in notes.dropped_params:
            notes.dropped_params.append(name)


def _thinking_off(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and value.get("type") == "disabled")


# Top-level Anthropic fields with the values that change nothing elsewhere; any other
# Anthropic-only field (anthropic_inbound's `_anthropic_extra`) counts whatever its value.
ANTHROPIC_INERT: dict[str, Inert] = {
    "thinking": _thinking_off,
    "service_tier": lambda value: value in (None, "auto", "standard_only"),
}


# The private keys the other entry points leave on a canonical body for these checks: a body
# without any of them (a plain chat request) needs neither.
FOREIGN_KEYS = frozenset({"_anthropic_untranslatable", "_anthropic_extra", "_openai_only"})


def check_anthropic_only(body: dict[str, Any], provider: ProviderConfig, provider_type: str,
                         notes: Translation) -> None:
    """For a request that came in on `/v1/messages` and goes to another protocol: refuse (or,
    when the provider allows it, drop and note) its Anthropic-only top-level fields, and refuse
    content the translation had no form for (that one cannot be dropped: it is the prompt)."""
    untranslatable = body.get("_anthropic_untranslatable")
    if untranslatable is not None:
        param, message = untranslatable
        raise TranslationError(param, f"{message}: {provider_type} providers cannot take it")
    extra = body.get("_anthropic_extra")
    if not extra:
        return
    for name, value in extra.items():
        inert = ANTHROPIC_INERT.get(name)
        if inert is not None and inert(value):
            continue
        if not provider.drop_unsupported_params:
            raise UnsupportedParam(name, provider_type)
        if name not in notes.dropped_params:
            notes.dropped_params.append(name)


def check_openai_only(body: dict[str, Any], provider_type: str) -> None:
    """For a request that came in on `/v1/responses` and goes to another protocol: refuse what
    needs OpenAI (stored state, built-in tools and their items), naming the field."""
    refusal = body.get("_openai_only")
    if refusal is not None:
        param, message = refusal
        raise TranslationError(param, f"{message}: {provider_type} providers cannot take it (only openai ones can)")
