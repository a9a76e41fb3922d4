from __future__ import annotations

from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from routecar.health import RateLimitInfo, parse_rate_limit

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5s", 0.5),
     ("7.66s", 7.66), ("2m59.56s", 179.56), ("0s", 0.0), ("150us", 0.00015), ("12", 12.0)],
)
def test_openai_reset_durations(text: str, seconds: float) -> None:
    info = parse_rate_limit({"x-ratelimit-reset-requests": text}, NOW)
    assert info.reset_requests == pytest.approx(seconds)


def test_openai_family_full() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-remaining-tokens": "29984",
        "x-ratelimit-reset-requests": "120ms",
        "x-ratelimit-reset-tokens": "32ms",
    }
    assert parse_rate_limit(headers, NOW) == RateLimitInfo(
        retry_after=None, remaining_requests=499, remaining_tokens=29984, limit_requests=500,
        limit_tokens=30000, reset_requests=0.12, reset_tokens=0.032,
    )


def test_retry_after_seconds_http_date_and_ms() -> None:
    assert parse_rate_limit({"Retry-After": "7"}, NOW).retry_after == 7.0
    date = formatdate(NOW + 42, usegmt=True)  # "Tue, 14 Nov 2023 22:14:02 GMT"
    assert parse_rate_limit({"Retry-After": date}, NOW).retry_after == pytest.approx(42)
    past = formatdate(NOW - 100, usegmt=True)
    assert parse_rate_limit({"Retry-After": past}, NOW).retry_after == 0.0
    both = {"retry-after-ms": "1500", "retry-after": "2"}
    assert parse_rate_limit(both, NOW).retry_after == pytest.approx(1.5)


def test_anthropic_family_with_rfc3339_resets() -> None:
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "3",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:50Z",
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "12000",
        "anthropic-ratelimit-tokens-reset": "2023-11-14T22:14:20.500+00:00",
        "retry-after": "4",
    }
    info = parse_rate_limit(headers, NOW)
    assert (info.limit_requests, info.remaining_requests) == (50, 3)
    assert info.reset_requests == pytest.approx(30)
    assert (info.limit_tokens, info.remaining_tokens) == (80000, 12000)
    assert info.reset_tokens == pytest.approx(60.5)
    assert info.retry_after == 4.0


def test_anthropic_input_output_tokens_pick_the_tighter() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "30000",
        "anthropic-ratelimit-input-tokens-reset": "2023-11-14T22:14:20Z",
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": "400",
        "anthropic-ratelimit-output-tokens-reset": "2023-11-14T22:13:30Z",
    }
    info = parse_rate_limit(headers, NOW)
    assert (info.remaining_tokens, info.limit_tokens) == (400, 8000)
    assert info.reset_tokens == pytest.approx(10)


def test_names_are_case_insensitive_in_dicts_and_multidicts() -> None:
    plain = {"X-RateLimit-Remaining-Requests": "9", "RETRY-AFTER": "3"}
    multi = CIMultiDictProxy(CIMultiDict(plain))
    for headers in (plain, multi):
        info = parse_rate_limit(headers, NOW)
        assert info.remaining_requests == 9 and info.retry_after == 3.0


def test_epoch_reset_is_read_as_an_instant() -> None:
    info = parse_rate_limit({"x-ratelimit-reset-tokens": str(int(NOW + 15))}, NOW)
    assert info.reset_tokens == pytest.approx(15)


@pytest.mark.parametrize(
    "value",
    ["", "soon", "-5", "nan", "inf", "1x", "s", "1s2", "ms", "Tue, 99 Foo", "1e400", "0x10",
     "2023-13-45T00:00:00Z", "1" * 500],
)
def test_garbage_values_are_ignored(value: str) -> None:
    headers = {
        "retry-after": value,
        "retry-after-ms": value,
        "x-ratelimit-remaining-requests": value,
        "x-ratelimit-reset-tokens": value,
        "anthropic-ratelimit-requests-reset": value,
    }
    info = parse_rate_limit(headers, NOW)
    assert info.retry_after is None
    assert info.remaining_requests is None
    assert info.reset_tokens is None
    assert info.reset_requests is None


def test_unrelated_headers_give_an_empty_info() -> None:
    assert parse_rate_limit({"content-type": "application/json"}, NOW).empty


@given(st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset-requests",
                     "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-reset",
                     "anthropic-ratelimit-input-tokens-remaining", "x-other"]),
    st.text(max_size=40),
))
def test_never_raises_and_never_negative(headers: dict[str, str]) -> None:
    info = parse_rate_limit(headers, NOW)
    for value in (info.retry_after, info.reset_requests, info.reset_tokens,
                  info.remaining_requests, info.remaining_tokens):
        assert value is None or value >= 0
