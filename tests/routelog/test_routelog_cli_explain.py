"""`routecar explain`: one request's whole story, by id or by a unique prefix or suffix."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from routecar.routelog import cli_explain
from tests.routelog.builders import record, run_cli, write_rows


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "routes.db")
    write_rows(path, [
        record(1, request_id="abc-111", rules_matched=["support#0 tags.team=billing"],
               error_message=None, escalations=1, canary=True),
        record(2, request_id="abc-222"),
        record(3, request_id="zzz-333", outcome="bad_request", status=400, attempt_log=[],
               chosen_model=None, provider=None, error_message="messages is required"),
    ], record_prompts=True)
    return path


def test_explains_decision_and_every_attempt(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_explain, ["--db", db, "abc-111"]) == 0
    out = capsys.readouterr().out
    for section in ("asked", "decision", "attempts (2)", "result"):
        assert f"\n{section}\n" in out
    assert "team=search workload=summarize" in out and "difficulty=simple" in out
    assert "support#0 tags.team=billing" in out
    assert "1. gpt-4o-mini" in out and "score=0.12" in out and "2. claude-haiku" in out
    assert "claude-sonnet @anthropic  circuit open" in out
    lines = out.splitlines()
    first = next(ln for ln in lines if ln.strip().startswith("1 ") and "anthropic" in ln)
    second = next(ln for ln in lines if ln.strip().startswith("2 ") and "openai" in ln)
    assert "503" in first and "http_5xx" in first and "12.5ms" in first
    assert "200" in second and "40.0ms" in second
    assert "gpt-4o-mini via openai (gpt-4o-mini-2024)" in out
    assert "abc123def456" in out and "claude-haiku" in out  # config hash, shadow choice
    assert "escalations 1" in out and "canary          yes" in out
    assert "hello 1" in out  # stored prompt, since this file recorded prompts


def test_prefix_ambiguity_unknown_and_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_explain, ["--db", db, "zzz"]) == 0
    out = capsys.readouterr().out
    assert "zzz-333" in out and "messages is required" in out and "none (the request" in out
    assert run_cli(cli_explain, ["--db", db, "abc"]) == 1
    err = capsys.readouterr().err
    assert "ambiguous" in err and "abc-111" in err and "abc-222" in err
    assert run_cli(cli_explain, ["--db", db, "nope"]) == 1
    assert "no request 'nope'" in capsys.readouterr().err
    assert run_cli(cli_explain, ["--db", db, "abc-222", "--json"]) == 0
    row = orjson.loads(capsys.readouterr().out)
    assert row["request_id"] == "abc-222" and row["skipped"][0]["reason"] == "circuit open"


def test_a_reused_request_id_shows_each_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "r.db")
    write_rows(path, [record(1, request_id="same"), record(2, request_id="same", outcome="timeout")])
    assert run_cli(cli_explain, ["--db", path, "same"]) == 0
    assert capsys.readouterr().out.count("request same") == 2


@pytest.fixture
def generated(tmp_path: Path) -> str:
    """Ids as the sidecar generates them: a per-process prefix and a counter, so two processes'
    ids may share an end and one process's ids share a start."""
    path = str(tmp_path / "gen.db")
    write_rows(path, [record(1, request_id="rc-1d2e3f-17a522da"), record(2, request_id="rc-1d2e3f-17a522db"),
                      record(3, request_id="rc-99aa00-17a522db", outcome="timeout", status=504),
                      record(4, request_id="17a5-app-given")])
    return path


def test_a_unique_suffix_finds_the_request(generated: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_explain, ["--db", generated, "17a522da"]) == 0
    assert "request rc-1d2e3f-17a522da" in capsys.readouterr().out
    assert run_cli(cli_explain, ["--db", generated, "2da"]) == 0
    assert "request rc-1d2e3f-17a522da" in capsys.readouterr().out
    # The form `routecar logs` shows a long id in: an ellipsis and its end.
    assert run_cli(cli_explain, ["--db", generated, "…1d2e3f-17a522da"]) == 0
    assert "request rc-1d2e3f-17a522da" in capsys.readouterr().out
    assert run_cli(cli_explain, ["--db", generated, "...given"]) == 0
    assert "request 17a5-app-given" in capsys.readouterr().out


def test_an_ambiguous_part_lists_the_candidates(generated: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_explain, ["--db", generated, "17a522db"]) == 1  # two processes' ids end alike
    err = capsys.readouterr().err
    assert "'17a522db' is ambiguous" in err
    assert "rc-1d2e3f-17a522db" in err and "rc-99aa00-17a522db" in err and "timeout" in err
    assert "rc-1d2e3f-17a522da" not in err
    # A start of one id and the end of another: both are candidates.
    write_rows(generated, [record(5, request_id="zz-ends-with-17a5")])
    assert run_cli(cli_explain, ["--db", generated, "17a5"]) == 1
    err = capsys.readouterr().err
    assert "17a5-app-given" in err and "zz-ends-with-17a5" in err


def test_a_part_no_id_has_says_so(generated: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_explain, ["--db", generated, "522d"]) == 1  # in the middle: neither start nor end
    err = capsys.readouterr().err
    assert "no request '522d'" in err and "starts with or ends with" in err
    assert run_cli(cli_explain, ["--db", generated, "%"]) == 1  # SQL wildcards are plain characters
    assert "no request '%'" in capsys.readouterr().err
    assert run_cli(cli_explain, ["--db", generated, "…"]) == 1
    assert "nothing but an ellipsis" in capsys.readouterr().err


def test_values_the_router_did_not_compute_are_never_printed_as_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "r.db")
    write_rows(path, [record(1, request_id="unscored",
                             candidates=[{"slug": "a", "deployment": "p/a", "score": None, "reason": "first"},
                                         {"slug": None, "model": "b", "score": 0.5}],
                             tags={"team": None}, shadow_model=None, route=None)])
    assert run_cli(cli_explain, ["--db", path, "unscored"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "null" not in out
    assert "1. a" in out and "deployment=p/a" in out and "score=" not in out.split("2. b")[0]
    assert "2. b" in out and "score=0.5" in out
