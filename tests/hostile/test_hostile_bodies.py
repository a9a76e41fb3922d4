"""Hostile answer bodies through a real `routecar serve`: gzip bombs, unterminated SSE events,
a flood of `100 Continue`, garbage instead of HTTP (rows 1, 2, 4 and 5 of the hardening issue).

Before the first content reaches the app every one of them fails over to the healthy fallback,
quickly; after it, the stream ends with an explicit error chunk and the row says
`stream_broken`. Memory stays under 128 MiB throughout (`server.max_response_bytes`, 16 MiB,
and `server.max_event_bytes`, 1 MiB, at their defaults): checked after each test by conftest.
"""

from __future__ import annotations

import gzip
import zlib

import pytest

from tests.hostile.conftest import FIRST_TOKEN_S, IDLE_S, SLACK_S, Hostile
from tests.hostile.expect import broke_explicitly, failed_over, peak_rss_under_limit
from tests.hostile.upstream import CONTENT, MIB, GzipBomb, gzip_bomb

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A cap (16 MiB inflated, 1 MiB per event) is reached in well under a second on loopback; a
# sidecar that needs its first-token budget to notice has not capped anything.
QUICK_S = FIRST_TOKEN_S + SLACK_S


async def test_gzip_bomb_unary_fails_over(hostile: Hostile) -> None:
    """1 MiB of gzip inflating to 1 GiB: refused at max_response_bytes, then failover."""
    ans = await hostile.chat("gzip-bomb")
    await failed_over(hostile, ans, "gzip-bomb", QUICK_S, stream=False)


async def test_gzip_bomb_stream_before_content_fails_over(hostile: Hostile) -> None:
    """A gzip stream inflating to 1 GiB without a single event: over max_event_bytes, failover."""
    ans = await hostile.chat("gzip-bomb", stream=True)
    await failed_over(hostile, ans, "gzip-bomb", QUICK_S, stream=True)


async def test_gzip_bomb_stream_after_content_breaks_explicitly(hostile: Hostile) -> None:
    """One content event, then 1 GiB inflated from the same gzip stream: an explicit error."""
    ans = await hostile.chat("gzip-bomb-late", stream=True)
    await broke_explicitly(hostile, ans, "gzip-bomb-late", IDLE_S + SLACK_S)


async def test_unterminated_event_before_content_fails_over(hostile: Hostile) -> None:
    """A `data:` line that never ends (bytes at full speed, no blank line): failover, well within total."""
    ans = await hostile.chat("unterminated", stream=True)
    await failed_over(hostile, ans, "unterminated", QUICK_S, stream=True)


async def test_unterminated_event_after_content_breaks_explicitly(hostile: Hostile) -> None:
    ans = await hostile.chat("unterminated-late", stream=True)
    await broke_explicitly(hostile, ans, "unterminated-late", IDLE_S + SLACK_S)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_continue_flood_fails_over(hostile: Hostile, stream: bool) -> None:
    """5,000 `HTTP/1.1 100 Continue` before a 503: no RecursionError, no "Fatal error", failover."""
    ans = await hostile.chat("continue-flood", stream=stream)
    await failed_over(hostile, ans, "continue-flood", QUICK_S, stream=stream)


@pytest.mark.parametrize("stream", [False, True], ids=["unary", "stream"])
async def test_garbage_instead_of_http_fails_over(hostile: Hostile, stream: bool) -> None:
    """Bytes that are not HTTP, then silence: a parse error, failover at once (not at a timeout)."""
    ans = await hostile.chat("garbage", stream=stream)
    row = await failed_over(hostile, ans, "garbage", QUICK_S, stream=stream)
    assert "timeout" not in row["attempt_log"][0]["error"], row["attempt_log"]


async def test_the_bomb_is_what_it_claims(bombs: tuple[GzipBomb, GzipBomb]) -> None:
    """The helper's construction, checked small (gzip verifies CRC and length), and the
    session's bombs: ~1 MiB on the wire, 1 GiB inflated, starting with what they claim."""
    small = gzip_bomb(CONTENT, mib=3)
    assert gzip.decompress(b"".join(small.parts())) == CONTENT + bytes(3 * MIB)
    early, late = bombs
    for bomb, prefix in ((early, b""), (late, CONTENT)):
        assert bomb.size < 1.1 * MIB and bomb.inflated == len(prefix) + 1024 * MIB
        start = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bomb.head + bomb.piece * 2, 2 * MIB)
        assert start == prefix + bytes(2 * MIB - len(prefix))


async def test_zz_peak_rss_of_the_whole_module(hostile: Hostile) -> None:
    peak_rss_under_limit(hostile)
