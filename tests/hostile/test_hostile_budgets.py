"""Time budgets against an upstream that keeps sending bytes (rows 3 and 7 of the hardening issue).

`first_token` counts first *content* (comments, keep-alives and empty preambles do not count),
`idle` counts *progress* (a new event), `total` and the request deadline bound everything. Each
fires within its budget plus SLACK_S although bytes never stop arriving. The attack providers
have first_token 1s, idle 1s, total 3s; the `deadline-*` ones 30s/30s/60s, so only the request's
`x-routecar-timeout-ms` can end them.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import FIRST_TOKEN_S, IDLE_S, SLACK_S, TOTAL_S, Hostile
from tests.hostile.expect import broke_explicitly, failed_over, peak_rss_under_limit
from tests.hostile.upstream import HOSTILE_ID

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_pings_without_content_fire_first_token(hostile: Hostile) -> None:
    """An empty preamble and `: ping` every 20 ms, never content: first_token fires, failover,
    and the held-back preamble never reaches the app."""
    ans = await hostile.chat("pings", stream=True)
    row = await failed_over(hostile, ans, "pings", FIRST_TOKEN_S + SLACK_S, stream=True)
    assert "timeout" in row["attempt_log"][0]["error"], row["attempt_log"]


async def test_pings_after_content_fire_idle(hostile: Hostile) -> None:
    """One content event, then `: ping` every 20 ms: no progress, so idle fires; explicit error."""
    ans = await hostile.chat("content-then-pings", stream=True)
    row = await broke_explicitly(hostile, ans, "content-then-pings", IDLE_S + SLACK_S)
    assert "timeout" in row["attempt_log"][-1]["error"], row["attempt_log"]


async def test_endless_content_fires_total(hostile: Hostile) -> None:
    """A content event every 100 ms, never a finish: progress keeps idle quiet, total ends it."""
    ans = await hostile.chat("content-forever", stream=True)
    await broke_explicitly(hostile, ans, "content-forever", TOTAL_S + SLACK_S)
    assert ans.elapsed < TOTAL_S + SLACK_S, f"the stream lasted {ans.elapsed:.2f}s, total is {TOTAL_S}s"


async def test_unary_trickle_fires_total_then_fails_over(hostile: Hostile) -> None:
    """A unary answer arriving one byte every 10 ms, never complete: total (3s) fires and the
    request fails over to the healthy fallback (the chosen config: 200, not 504)."""
    ans = await hostile.chat("trickle")
    row = await failed_over(hostile, ans, "trickle", TOTAL_S + SLACK_S, stream=False)
    assert "timeout" in row["attempt_log"][0]["error"], row["attempt_log"]


DEADLINE_MS = 1500
DEADLINE_BOUND_S = 2.5  # the deadline plus a second of slack


@pytest.mark.parametrize(("model", "stream"), [("deadline-pings", True), ("deadline-trickle", False)],
                         ids=["stream-pings", "unary-trickle"])
async def test_request_deadline_bounds_an_endless_upstream(hostile: Hostile, model: str, stream: bool) -> None:
    """`x-routecar-timeout-ms: 1500` against an upstream whose own budgets are 30 s and that
    sends bytes forever: an answer (504, or the fallback's 200) within 2.5 s."""
    ans = await hostile.chat(model, stream=stream, headers={"x-routecar-timeout-ms": str(DEADLINE_MS)})
    row = await hostile.row(ans.rid)
    ctx = f"\nstatus={ans.status} elapsed={ans.elapsed:.2f}s body={ans.body[:400]!r}\nrow={row}"
    assert hostile.upstream.served(model, stream) >= 1, f"the {model} attack was never reached" + ctx
    assert ans.elapsed < DEADLINE_BOUND_S, f"answered after {ans.elapsed:.2f}s" + ctx
    assert ans.status in (200, 504), ctx
    assert HOSTILE_ID not in ans.body, "bytes of the stalled attempt reached the app" + ctx
    assert row is not None, "no route-log row" + ctx
    if ans.status == 504:
        assert ans.json()["error"]["message"], ctx
        assert row["outcome"] == "timeout", ctx
    else:
        assert ans.model == "healthy" and row["outcome"] == "ok", ctx


async def test_zz_peak_rss_of_the_whole_module(hostile: Hostile) -> None:
    peak_rss_under_limit(hostile)
