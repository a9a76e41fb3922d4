"""Rows whose plan and attempt columns the writer built from the request's plan and outcome.

A stream's committed attempt runs until the stream ends: its final record (latency to the end
of the stream, no error when the app hung up) comes from the stream itself, also for a stream
the app hung up on.
"""

from __future__ import annotations

from tests.observe_e2e.conftest import TRAFFIC, Observed


async def test_streams_store_the_whole_stream_as_their_last_attempts_latency(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in ("cancelled", "stream", "stream_usage"):
        row = rows[f"obs-{kind}"]
        last = row["attempt_log"][-1]
        assert last["error"] is None, kind
        # The whole stream, not just its first token; within the request's own time.
        assert last["ttft_ms"] <= last["latency_ms"] <= row["latency_ms"] + 0.01, kind
        assert last["latency_ms"] >= 0.5 * row["latency_ms"], kind


async def test_routed_rows_carry_their_candidates(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in TRAFFIC:
        row = rows[f"obs-{kind}"]
        if row["attempts"]:
            assert row["candidates"], kind
            assert {"slug", "deployment", "reason", "score", "step"} <= set(row["candidates"][0]), kind
