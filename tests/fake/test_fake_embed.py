"""Fake embeddings carry meaning: similar texts close, unrelated texts far."""

from __future__ import annotations

import math

import pytest

from routecar.fake.embed import cosine, embed_text


def test_similar_beats_unrelated() -> None:
    refund = embed_text("refund my order")
    similar = embed_text("I want a refund for my orders")
    unrelated = embed_text("the app crashes on start")
    assert cosine(refund, similar) > 0.6
    assert cosine(refund, similar) > cosine(refund, unrelated) + 0.4
    assert cosine(embed_text("the app crashes on start"), embed_text("app crashed when starting")) > 0.8


def test_unit_length_deterministic_and_sized() -> None:
    vec = embed_text("Hello, World!")
    assert len(vec) == 64
    assert math.isclose(math.sqrt(sum(v * v for v in vec)), 1.0, rel_tol=1e-9)
    assert vec == embed_text("hello world")  # case and punctuation do not matter
    assert len(embed_text("hello", dim=256)) == 256
    assert math.isclose(sum(v * v for v in embed_text("", 8)), 1.0)
    assert cosine(embed_text("same text"), embed_text("same text")) == pytest.approx(1.0)


def test_dimension_must_be_positive() -> None:
    with pytest.raises(ValueError):
        embed_text("x", dim=0)
