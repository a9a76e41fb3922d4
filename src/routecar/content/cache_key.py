"""Which requests may be answered from a cache, and the key they are stored under.

The key is a blake2b digest of the target (route or model name) and the request body with the
fields that cannot change the answer removed (`stream`, `stream_options`, `user`, `metadata`,
`store`, and `model`, which the target replaces) and equivalent spellings folded together
(`max_completion_tokens` is `max_tokens`, a `stop` string is a one-item list, `n: 1` is no
`n`, `0` is `0.0`). Every other field is kept: a field the key ignored but the model reads
(`frequency_penalty`, `logit_bias`, ...) would turn into wrong answers, while a field it keeps
needlessly only costs a miss. Keys are sorted at every depth, so JSON key order is irrelevant.
"""

from __future__ import annotations

from hashlib import blake2b
from typing import Any, Mapping

import orjson

# Delivery and bookkeeping fields: the same answer serves every value of these.
IGNORED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata", "store"})
KEY_BYTES = 32
_DUMP_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _normalized(body: Mapping[str, Any]) -> dict[str, Any]:
    norm = {k: v for k, v in body.items() if k not in IGNORED_FIELDS and v is not None}
    if "max_completion_tokens" in norm:
        # Either name asks for the same cap; the newer one wins when both are sent, as upstream.
        norm["max_tokens"] = norm.pop("max_completion_tokens")
    stop = norm.get("stop")
    if isinstance(stop, str):
        norm["stop"] = [stop]
    elif stop == []:
        del norm["stop"]
    if norm.get("n") == 1:
        del norm["n"]
    for name in ("temperature", "top_p"):
        if name in norm:
            norm[name] = _number(norm[name])
    return norm


def _digest(target: str, request: Mapping[str, Any]) -> bytes:
    # default=repr: a body that came from JSON never needs it, and a key must never raise.
    payload = orjson.dumps({"target": target, "request": request}, option=_DUMP_OPTIONS, default=repr)
    return blake2b(payload, digest_size=KEY_BYTES).digest()


def cache_key(target: str, body: Mapping[str, Any]) -> bytes:
    """The exact-cache key of a chat request sent to `target` (a route or model name)."""
    return _digest(target, _normalized(body))


def semantic_scope(target: str, body: Mapping[str, Any]) -> bytes:
    """Everything but the last user message, hashed: a semantic cache matches on meaning only
    among requests whose scope is equal (same system prompt, history, tools, parameters)."""
    norm = _normalized(body)
    messages = norm.get("messages")
    if isinstance(messages, list):
        for i in range(len(messages) - 1, -1, -1):
            msg = messages[i]
            if isinstance(msg, dict) and msg.get("role") == "user":
                norm["messages"] = [*messages[:i], {**msg, "content": None}, *messages[i + 1:]]
                break
    return _digest(target, norm)


def is_cacheable(body: Mapping[str, Any], opt_in: bool, no_cache: bool) -> bool:
    """May this request be answered from (and stored in) a cache?

    Only deterministic requests (temperature 0), unless the app opted in with
    `x-routecar-cache: use`; never under `Cache-Control: no-cache`; never for several choices.
    """
    if no_cache:
        return False
    n = body.get("n")
    if n is not None and n != 1:
        return False
    temperature = body.get("temperature")
    deterministic = (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
                     and temperature == 0)
    return deterministic or opt_in


def cache_controls(cache_control: str | None, routecar_cache: str | None) -> tuple[bool, bool]:
    """(opt_in, no_cache) from the `Cache-Control` and `x-routecar-cache` request headers."""
    no_cache = False
    if cache_control:
        directives = {d.strip().split("=", 1)[0].lower() for d in cache_control.split(",")}
        no_cache = "no-cache" in directives or "no-store" in directives
    opt_in = routecar_cache is not None and routecar_cache.strip().lower() == "use"
    return opt_in, no_cache
