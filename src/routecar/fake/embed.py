"""Meaningful fake embeddings: a signed, hashed bag of words and bigrams.

Real embedding models are out of reach offline, but the semantic cache and the embedding
classifier still need vectors where similar texts are close and unrelated texts are far.
Feature hashing gives exactly that for overlapping vocabulary, deterministically across
processes (blake2b, not Python's salted `hash`).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from hashlib import blake2b

_WORD = re.compile(r"[a-z0-9]+")

# Function words would make every pair of English sentences look alike.
_STOPWORDS = frozenset(
    "a an and are as at be but by do does for from has have i in is it its me my of on or our "
    "so that the their them they this to was we were what when where which who will with you "
    "your can could would should please".split()
)

_BIGRAM_WEIGHT = 0.5


def _stem(word: str) -> str:
    # Crude suffix folding so "crashes", "crashed" and "crash" share a bucket; enough for a fake.
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("ing") and len(word) > 5:
        return word[:-3]
    if word.endswith("ed") and len(word) > 4:
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    words = [_stem(w) for w in _WORD.findall(text.lower())]
    content = [w for w in words if w not in _STOPWORDS]
    return content or words


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(blake2b(feature.encode(), digest_size=8).digest(), "little")
    # The sign bit keeps collisions from adding up into fake similarity.
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


@lru_cache(maxsize=4096)
def _embed(text: str, dim: int) -> tuple[float, ...]:
    tokens = _tokens(text)
    vec = [0.0] * dim
    if not tokens:
        # Empty text still gets a unit vector so consumers never divide by zero.
        tokens = [""]
    for tok in tokens:
        idx, sign = _bucket(tok, dim)
        vec[idx] += sign
    for left, right in zip(tokens, tokens[1:]):
        idx, sign = _bucket(left + " " + right, dim)
        vec[idx] += sign * _BIGRAM_WEIGHT
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        # Features cancelled out exactly; fall back to the first token's bucket.
        idx, sign = _bucket(tokens[0], dim)
        vec[idx] = sign
        norm = 1.0
    return tuple(v / norm for v in vec)


def embed_text(text: str, dim: int = 64) -> list[float]:
    """A deterministic, L2-normalized vector of length `dim` for `text`."""
    if dim < 1:
        raise ValueError("dim must be >= 1")
    return list(_embed(text, dim))


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors (both already normalized by embed_text)."""
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return dot / (na * nb)
