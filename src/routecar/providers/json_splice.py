"""Replace one top-level string member of a JSON object in its bytes, leaving every other byte
as it was.

Passthrough (Anthropic in to an Anthropic upstream, OpenAI in to an OpenAI upstream) must send
the app's body byte for byte apart from `model`, and answer with the upstream's bytes apart
from `model`: re-serializing would change spacing, escapes and number forms. The scan skips
over whole strings and brackets with one regular expression (C speed, so a base64 image is one
match), tracks the nesting depth, and stops at the first top-level `"model"` key.
"""

from __future__ import annotations

import re

import orjson

# A JSON string with its escapes, written as an unrolled loop (runs of plain bytes in one step,
# not one alternation per byte).
_STRING = rb'"[^"\\]*(?:\\.[^"\\]*)*"'
# A JSON string or a bracket; everything else is skipped over.
_TOKEN = re.compile(_STRING + rb"|[{}\[\]]", re.DOTALL)
_COLON = re.compile(rb"\s*:\s*")
# The common case in one C-speed match: only scalar members (strings, numbers, true, false,
# null) come before the key, as in every OpenAI and Anthropic answer (`id`, `object`,
# `created`, then `model`). Group 1 is the key's string value. One pattern per key, made once.
_SCALAR = rb"(?:" + _STRING + rb"|-?[0-9][0-9.eE+-]*|true|false|null)"
_EARLY: dict[str, re.Pattern[bytes]] = {}


def _early(key: str) -> re.Pattern[bytes]:
    pattern = _EARLY.get(key)
    if pattern is None:
        pattern = _EARLY[key] = re.compile(
            rb"\s*\{(?:\s*" + _STRING + rb"\s*:\s*" + _SCALAR + rb"\s*,)*?\s*" + re.escape(orjson.dumps(key))
            + rb"\s*:\s*(" + _STRING + rb")", re.DOTALL)
    return pattern


_MODEL_EARLY = _early("model")  # every caller's key


def set_string_member(raw: bytes, key: str, value: str) -> bytes | None:
    """`raw` (a JSON object) with its top-level `key` set to the string `value`; None when the
    object has no such member holding a string (the caller re-serializes instead)."""
    early = (_MODEL_EARLY if key == "model" else _early(key)).match(raw)
    if early is not None:
        new = orjson.dumps(value)
        if early.group(1) == new:
            return raw  # already says so (the usual unary answer): no copy
        return raw[:early.start(1)] + new + raw[early.end(1):]
    # A nested member comes first (or the key is missing, or not a string): the general scan.
    wanted = orjson.dumps(key)
    depth = 0
    tokens = _TOKEN.finditer(raw)
    for match in tokens:
        tok = match.group()
        first = tok[:1]
        if first in (b"{", b"["):
            depth += 1
            continue
        if first in (b"}", b"]"):
            depth -= 1
            continue
        if depth != 1:
            continue
        # At depth 1 a string followed by a colon is a key (values are followed by , or }).
        colon = _COLON.match(raw, match.end())
        if colon is None or tok != wanted:
            continue
        start = colon.end()
        value_match = next(tokens, None)
        if value_match is None or value_match.start() != start or value_match.group()[:1] != b'"':
            return None  # `model` is not a string: leave the body to the caller
        return raw[:start] + orjson.dumps(value) + raw[value_match.end():]
    return None
