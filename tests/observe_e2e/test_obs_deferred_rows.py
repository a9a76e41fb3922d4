"""Rows whose plan and attempt columns the writer built: streams keep their late edits.

A stream's last attempt runs until the stream ends, so its `latency_ms` is patched when the
request finishes, also for a stream the app hung up on (whose attempts are recorded again on
the way out). The writer builds those columns after the request: the patch must survive.
"""

from __future__ import annotations

from tests.observe_e2e.conftest import TRAFFIC, Observed


async def test_streams_store_the_whole_stream_as_their_last_attempts_latency(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in ("cancelled", "stream", "stream_usage"):
        row = rows[f"obs-{kind}"]
        last = row["attempt_log"][-1]
        assert last["error"] is None, kind
        assert last["latency_ms"] == round(row["latency_ms"], 2), kind


async def test_routed_rows_carry_their_candidates(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in TRAFFIC:
        row = rows[f"obs-{kind}"]
        if row["attempts"]:
            assert row["candidates"], kind
            assert {"slug", "deployment", "reason", "score", "step"} <= set(row["candidates"][0]), kind
