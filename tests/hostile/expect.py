"""The two endings the contract allows for an attack (SPEC §7), as assertions.

Before the first byte reached the app: a failover, answered by the healthy fallback, and nothing
of the hostile upstream's bytes in the answer. After it: the stream ends with an explicit OpenAI
error chunk (`data: {"error": {...}}`, no `[DONE]`) and the row says `stream_broken`.
"""

from __future__ import annotations

from typing import Any

from tests.hostile.conftest import RSS_LIMIT_KIB, Answer, Hostile
from tests.hostile.upstream import HOSTILE_ID, PARTIAL


def _context(hostile: Hostile, ans: Answer, row: dict[str, Any] | None = None) -> str:
    out = "\n".join(line[-1000:] for line in hostile.sidecar.lines[-10:])
    return (f"\nstatus={ans.status} model={ans.model} elapsed={ans.elapsed:.2f}s cut={ans.cut or '-'}"
            f"\nbody={ans.body[:600]!r}"
            f"\nrow={_row_summary(row)}\n--- sidecar output ---\n{out}")


def _row_summary(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    keys = ("outcome", "status", "chosen_model", "attempts", "attempt_log", "error_message")
    return str({k: row.get(k) for k in keys if k in row})


def _contents(ans: Answer) -> list[str]:
    out = []
    for _, chunk in ans.parsed():
        for choice in chunk.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                out.append(text)
    return out


async def failed_over(hostile: Hostile, ans: Answer, attack: str, within: float, *, stream: bool) -> dict[str, Any]:
    """The attack's attempt failed before the first byte and the healthy fallback answered."""
    row = await hostile.row(ans.rid)
    ctx = _context(hostile, ans, row)
    assert hostile.upstream.served(attack, stream) >= 1, f"the {attack} attack was never reached" + ctx
    assert ans.status == 200, "expected the fallback's answer" + ctx
    assert ans.model == "healthy", "expected the healthy fallback to answer" + ctx
    assert ans.elapsed < within, f"failover took {ans.elapsed:.2f}s, budget {within:.2f}s" + ctx
    assert HOSTILE_ID not in ans.body, "bytes of the failed attempt reached the app" + ctx
    assert not ans.cut, "the answer was cut" + ctx
    if stream:
        assert ans.done and _contents(ans), "expected the fallback's complete stream" + ctx
    else:
        assert ans.json()["choices"][0]["message"]["content"], "expected the fallback's answer" + ctx
    assert row is not None, "no route-log row" + ctx
    assert row["outcome"] == "ok" and row["chosen_model"] == "healthy", "row" + ctx
    log = row["attempt_log"]
    assert len(log) == 2 and log[0]["provider"] == attack and log[0]["error"], "attempt log" + ctx
    assert log[1]["provider"] == "healthy" and not log[1]["error"], "attempt log" + ctx
    return row


async def broke_explicitly(hostile: Hostile, ans: Answer, attack: str, within_after_content: float) -> dict[str, Any]:
    """The stream delivered the attack's first content, then ended with an error chunk within
    `within_after_content` seconds of that content; never `[DONE]`, never a silent end."""
    row = await hostile.row(ans.rid)
    ctx = _context(hostile, ans, row)
    assert hostile.upstream.served(attack, True) >= 1, f"the {attack} attack was never reached" + ctx
    assert ans.status == 200 and ans.model == attack, "expected the attack's stream to be committed" + ctx
    events = ans.parsed()
    assert events and PARTIAL in _contents(ans), "expected the first content event to reach the app" + ctx
    assert not ans.cut, "the stream was cut without an error event" + ctx
    assert not ans.done, "a broken stream must not end with [DONE]" + ctx
    t_last, last = events[-1]
    error = last.get("error")
    assert isinstance(error, dict) and error.get("message") and error.get("type"), \
        "expected an explicit OpenAI error chunk as the last event" + ctx
    t_first = next(t for t, chunk in events if PARTIAL in str(chunk))
    assert t_last - t_first <= within_after_content, \
        f"the error came {t_last - t_first:.2f}s after the first content, budget {within_after_content:.2f}s" + ctx
    assert row is not None, "no route-log row" + ctx
    assert row["outcome"] == "stream_broken", "row" + ctx
    assert row["attempt_log"][-1]["provider"] == attack and row["attempt_log"][-1]["error"], "attempt log" + ctx
    return row


def peak_rss_under_limit(hostile: Hostile) -> None:
    peak = hostile.peak_rss_kib()
    assert peak < RSS_LIMIT_KIB, f"the sidecar's peak RSS is {peak / 1024:.1f} MiB (limit 128 MiB)"
