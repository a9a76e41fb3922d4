"""The route log (docs/route-log.md) end to end: one explainable row per request of every kind,
with the right fields."""

from __future__ import annotations

import pytest

from tests.helpers import read_rows
from tests.observe_e2e.conftest import PRICES, TRAFFIC, Observed

ATTEMPT_KEYS = {"provider", "model", "status", "error", "latency_ms"}


def expected_cost(row: dict) -> float:
    price_in, price_out = PRICES[row["chosen_model"]]
    return (row["prompt_tokens"] * price_in + (row["completion_tokens"] or 0) * price_out) / 1_000_000


async def test_one_row_per_request_with_status_outcome_and_stream(observed: Observed) -> None:
    rows = await observed.rows()
    assert len(read_rows(observed.db)) == len(TRAFFIC)  # exactly one row per request
    assert set(rows) == {f"obs-{kind}" for kind in TRAFFIC}
    for kind, (_, _, status, outcome, attempts, stream) in TRAFFIC.items():
        row = rows[f"obs-{kind}"]
        assert (row["status"], row["outcome"], row["attempts"], bool(row["stream"])) == \
            (status, outcome, attempts, stream), kind
        assert observed.answers[kind].status == (200 if kind == "cancelled" else status), kind
        assert row["config_hash"] == observed.hash, kind
        assert row["overhead_ms"] is not None and row["overhead_ms"] >= 0, kind
        assert row["latency_ms"] > 0, kind
        assert len(row["attempt_log"]) == row["attempts"], kind
        for entry in row["attempt_log"]:
            assert ATTEMPT_KEYS <= set(entry), (kind, entry)


async def test_every_answer_names_its_request_id(observed: Observed) -> None:
    for kind, answer in observed.answers.items():
        assert answer.headers["x-routecar-request-id"] == f"obs-{kind}"


async def test_tags_are_stored_on_routed_rows(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in TRAFFIC:
        if kind in ("bad_json", "too_large"):
            continue  # covered by the next test
        assert rows[f"obs-{kind}"]["tags"] == {"team": "obs", "kind": kind}, kind


async def test_tags_are_stored_on_rows_rejected_before_parsing(observed: Observed) -> None:
    rows = await observed.rows()
    assert rows["obs-bad_json"]["tags"] == {"team": "obs", "kind": "bad_json"}
    assert rows["obs-too_large"]["tags"] == {"team": "obs", "kind": "too_large"}


async def test_costs_equal_price_times_usage(observed: Observed) -> None:
    rows = await observed.rows()
    answered = [r for r in rows.values() if r["status"] == 200]
    assert len(answered) == 7
    for row in answered:
        assert row["prompt_tokens"] and row["prompt_tokens"] > 0, row["request_id"]
        assert row["cost_usd"] == pytest.approx(expected_cost(row), rel=1e-9), row["request_id"]
        assert row["est_cost_usd"] is not None, row["request_id"]
        header = observed.answers[row["request_id"][4:]].headers.get("x-routecar-cost-usd")
        if not row["stream"]:
            assert float(header) == pytest.approx(row["cost_usd"], abs=1e-8)
    for row in rows.values():
        if row["status"] != 200:
            assert not row["cost_usd"], row["request_id"]  # nothing answered, nothing billed


async def test_failover_row_tells_the_whole_story(observed: Observed) -> None:
    row = (await observed.rows())["obs-failover"]
    assert (row["requested_model"], row["chosen_model"], row["provider"], row["upstream_model"]) == \
        ("primary", "backup", "good", "up-good")
    assert row["fallback"] == 1
    first, second = row["attempt_log"]
    assert (first["provider"], first["model"], first["status"], first["error"]) == ("bad", "up-bad", 500, "http_5xx")
    assert (second["provider"], second["model"], second["status"], second["error"]) == ("good", "up-good", 200, None)
    assert first["latency_ms"] >= 0 and second["latency_ms"] >= 0
    assert "failover" in row["reason"]


async def test_open_circuit_shows_as_skipped(observed: Observed) -> None:
    rows = await observed.rows()
    skipped = rows["obs-skipped"]["skipped"]
    assert [(s["deployment"], s["why"]) for s in skipped] == [("bad/up-bad", "circuit_open")]
    assert rows["obs-skipped"]["attempt_log"][0]["provider"] == "good"
    assert rows["obs-ok"]["skipped"] == []


async def test_stream_rows_carry_ttft_and_usage(observed: Observed) -> None:
    rows = await observed.rows()
    for kind in ("stream", "stream_usage"):
        row = rows[f"obs-{kind}"]
        assert row["ttft_ms"] is not None and 0 <= row["ttft_ms"] <= row["latency_ms"], kind
        assert row["attempt_log"][0]["ttft_ms"] is not None, kind
        assert row["completion_tokens"], kind  # usage is read even when the app did not ask for it


async def test_rejected_and_failed_rows(observed: Observed) -> None:
    rows = await observed.rows()
    assert rows["obs-unknown_model"]["requested_model"] == "no-such-model"
    assert rows["obs-unknown_model"]["attempt_log"] == []
    assert "no-such-model" in rows["obs-unknown_model"]["error_message"]
    assert "max_body_bytes" in rows["obs-too_large"]["error_message"]
    (attempt,) = rows["obs-upstream_502"]["attempt_log"]
    assert (attempt["provider"], attempt["model"], attempt["status"], attempt["error"]) == \
        ("bad", "up-doomed", 503, "http_5xx")
    assert "bad" in rows["obs-upstream_502"]["error_message"]
    (attempt,) = rows["obs-echo_401"]["attempt_log"]
    assert (attempt["status"], attempt["error"]) == (401, "http_401")


async def test_client_cancelled_stream(observed: Observed) -> None:
    row = (await observed.rows())["obs-cancelled"]
    assert (row["status"], row["outcome"], row["chosen_model"], row["provider"]) == \
        (499, "client_cancelled", "slow", "good")
    assert row["tags"] == {"team": "obs", "kind": "cancelled"}
    assert b"data:" in observed.answers["cancelled"].body  # it really was mid-stream


async def test_endpoints_recorded(observed: Observed) -> None:
    rows = await observed.rows()
    assert rows["obs-embeddings"]["endpoint"] == "embeddings"
    assert rows["obs-messages"]["endpoint"] == "messages"
    assert rows["obs-ok"]["endpoint"] == "chat"
