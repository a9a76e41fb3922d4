"""`routecar logs`, run in-process through its parser, and `-f` as a real subprocess."""

from __future__ import annotations

import io
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest

from routecar.routelog import cli_explain, cli_logs, timefmt
from routecar.routelog.render import Printer
from tests.processes import child, ignore_sigint_and_die_with_parent
from tests.routelog.builders import every_kind, read_all, record, run_cli, write_rows

REPO = Path(__file__).resolve().parents[2]
ROUTECAR = str(Path(sys.executable).with_name("routecar"))
# How soon a follower must end after a stop signal: it polls every 0.05 s in these tests, and a
# signal interrupts the poll's sleep at once; the rest is generous slack for a loaded machine.
STOP_WITHIN_S = 5.0


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Rows from 100 s and two hours before local noon today, with the CLI's clock at that noon.

    A real clock would make the table depend on when the suite runs: after midnight the row
    from two hours ago is yesterday's and shows its date, which widens the time column."""
    path = str(tmp_path / "routes.db")
    now = datetime.now().replace(hour=12, minute=0, second=0, microsecond=0).timestamp()
    monkeypatch.setattr(timefmt, "time", SimpleNamespace(time=lambda: now))
    recs = [record(i, ts=now - 100 + i) for i in range(60)]
    recs[10] = record(10, ts=now - 90, provider="anthropic", chosen_model="claude-haiku",
                      tags={"team": "billing"}, outcome="timeout", status=504)
    recs[20] = record(20, ts=now - 7200, outcome="rate_limited", status=429)  # two hours ago
    write_rows(path, recs)
    return path


def lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.strip()]


def test_newest_rows_last_with_a_header(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_logs, ["--db", db]) == 0
    out = lines(capsys.readouterr().out)
    assert out[0].split()[:3] == ["TIME", "REQUEST", "MODEL"]
    assert len(out) == 51  # header + the default 50
    assert "req-000010" in out[1] and "req-000059" in out[-1]
    # plain text when not a terminal, columns aligned
    assert "\x1b[" not in "".join(out)
    assert out[1].index("anthropic") == out[2].index("openai") == out[-1].index("openai")
    assert "fast -> gpt-4o-mini" in out[-1] and "159/20" in out[-1] and "req-000059" in out[-1]
    assert "stream cache=miss fallback" in out[-1]


def test_limit_since_errors_and_where(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_logs, ["--db", db, "-n", "3"]) == 0
    assert [ln.split()[1] for ln in lines(capsys.readouterr().out)[1:]] == [
        "req-000057", "req-000058", "req-000059"]
    assert run_cli(cli_logs, ["--db", db, "-n", "100", "--since", "10m"]) == 0
    out = capsys.readouterr().out
    assert "req-000020" not in out and "req-000021" in out
    assert run_cli(cli_logs, ["--db", db, "--errors", "-n", "100"]) == 0
    ids = [ln.split()[1] for ln in lines(capsys.readouterr().out)[1:]]
    assert ids == ["req-000010", "req-000020"]
    assert run_cli(cli_logs, ["--db", db, "--where", "provider=anthropic", "outcome=timeout"]) == 0
    assert [ln.split()[1] for ln in lines(capsys.readouterr().out)[1:]] == ["req-000010"]
    assert run_cli(cli_logs, ["--db", db, "--where", "tags.team=billing", "--json"]) == 0
    rows = [orjson.loads(ln) for ln in lines(capsys.readouterr().out)]
    assert [r["request_id"] for r in rows] == ["req-000010"]
    assert rows[0]["tags"] == {"team": "billing"} and rows[0]["attempt_log"][0]["status"] == 503
    assert run_cli(cli_logs, ["--db", db, "--where", "status>=500", "--json"]) == 0
    assert [orjson.loads(ln)["status"] for ln in lines(capsys.readouterr().out)] == [504]
    assert run_cli(cli_logs, ["--db", db, "--where", "provider!=openai", "--json"]) == 0
    assert [orjson.loads(ln)["request_id"] for ln in lines(capsys.readouterr().out)] == ["req-000010"]
    assert run_cli(cli_logs, ["--db", db, "--where", "stream=true", "-n", "1000", "--json"]) == 0
    assert len(lines(capsys.readouterr().out)) == 60


def test_where_rejects_unknown_columns_and_binds_values(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_logs, ["--db", db, "--where", "nope=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown column 'nope'" in err and "chosen_model" in err and "tags.NAME" in err
    # A value is a value: quotes in it cannot widen the query.
    assert run_cli(cli_logs, ["--db", db, "--where", "provider=openai' OR '1'='1", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert run_cli(cli_logs, ["--db", db, "--where", "provider;DROP TABLE route_log--=x"]) == 2
    assert run_cli(cli_logs, ["--db", db, "--where", 'tags.te"am=x']) == 2
    assert run_cli(cli_logs, ["--db", db, "--where", "provider"]) == 2
    capsys.readouterr()
    assert len(read_all(db)) == 60


def test_missing_database_and_bad_since(tmp_path: Path, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(cli_logs, ["--db", str(tmp_path / "nope.db")]) == 1
    assert "no route log at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    assert run_cli(cli_logs, ["--db", db, "--since", "yesterday-ish"]) == 2
    assert "bad duration" in capsys.readouterr().err


def test_every_kind_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "r.db")
    write_rows(path, every_kind())
    assert run_cli(cli_logs, ["--db", path, "-n", "1000"]) == 0
    out = capsys.readouterr().out
    assert "budget_rejected" in out and "client_cancelled" in out and "budget_rejected happened" in out


def test_colour_on_a_terminal() -> None:
    buf = io.StringIO()
    view = cli_logs._View(Printer(buf, color=True), as_json=False)
    row = {"request_id": "r1", "outcome": "timeout", "status": 504, "requested_model": "fast", "chosen_model": "m"}
    view.show([row], header=True)
    text = buf.getvalue()
    assert "\x1b[" in text and "fast → m" in text and "timeout" in text


def _reader(stream: io.BufferedReader, out: "queue.Queue[str]") -> None:
    for raw in iter(stream.readline, b""):
        out.put(raw.decode())


def _expect(out: "queue.Queue[str]", needle: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = out.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} never printed; got {seen!r}")


def test_follow_prints_rows_written_after_it_started(db: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    argv = [sys.executable, "-m", "routecar.routelog.cli_logs", "--db", db, "-f", "-n", "2",
            "--interval", "0.05", "--where", "provider=openai"]
    with child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        out: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True).start()
        _expect(out, "req-000059")
        write_rows(db, [record(900, provider="anthropic"), record(901, ts=time.time())])
        line = _expect(out, "req-000901")
        assert "openai" in line
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean exit, no traceback
        assert proc.wait(timeout=20) == 0
        assert b"Traceback" not in proc.stderr.read()  # type: ignore[union-attr]
        rest = "".join(out.queue)
        assert "req-000900" not in rest


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_follow_stops_on_a_signal_even_started_with_sigint_ignored(db: str, sig: signal.Signals) -> None:
    """A script's `routecar logs -f &` inherits SIGINT ignored; it must still stop on SIGINT
    (and on SIGTERM, which teardowns and service managers send) at once, exit 0, no traceback."""
    argv = [ROUTECAR, "logs", "--db", db, "-f", "-n", "1", "--interval", "0.05"]
    with child(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               preexec_fn=ignore_sigint_and_die_with_parent) as proc:
        out: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, out), daemon=True).start()
        _expect(out, "req-000059")  # following now: its handlers were set before the first screen
        proc.send_signal(sig)
        assert proc.wait(timeout=STOP_WITHIN_S) == 0
        assert b"Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def _explain_finds(db: str, shown: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The request id `routecar explain SHOWN` explains."""
    assert run_cli(cli_explain, ["--db", db, shown]) == 0, capsys.readouterr().err
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("request ")
    return first.split()[1]


@pytest.mark.parametrize("columns", ["80", "160", None])
def test_every_id_logs_shows_is_one_explain_takes(tmp_path: Path, columns: str | None,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "ids.db")
    app_id = "checkout-service/" + "9f" * 20 + "/attempt-2"  # an app's own id, longer than the column
    ids = ["rc-1d2e3f-17a522da", "rc-1d2e3f-17a522db", "rc-99aa00-17a522da", app_id]
    write_rows(path, [record(i, request_id=rid) for i, rid in enumerate(ids)])
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    assert run_cli(cli_logs, ["--db", path]) == 0
    shown = [ln.split()[1] for ln in lines(capsys.readouterr().out)[1:]]
    assert shown[:3] == ids[:3]  # generated ids are shown whole
    assert shown[3].startswith("…") and app_id.endswith(shown[3][1:])
    assert [_explain_finds(path, s, capsys) for s in shown] == ids


@pytest.mark.parametrize("columns", [80, 100, 160])
def test_the_table_fits_the_terminal(db: str, columns: int, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    assert run_cli(cli_logs, ["--db", db, "-n", "100"]) == 0
    out = lines(capsys.readouterr().out)
    assert max(len(ln) for ln in out) <= columns
    header = out[0].split()
    assert {"TIME", "REQUEST", "MODEL", "PROVIDER", "STATUS", "OUTCOME", "LATENCY"} <= set(header)
    row = next(ln for ln in out if "req-000010" in ln)
    assert "anthropic" in row and "timeout" in row and "504" in row
    if columns == 80:  # what it gave up to fit: the least needed columns, the time's milliseconds
        assert not {"TTFT", "TOKENS", "COST", "DETAIL"} & set(header)
        assert len(row.split()[0]) == len("HH:MM:SS")
    if columns == 160:
        assert header == ["TIME", "REQUEST", "MODEL", "PROVIDER", "STATUS", "OUTCOME", "ATT", "LATENCY",
                          "TTFT", "TOKENS", "COST", "DETAIL"]


def test_a_very_narrow_terminal_cuts_the_model_but_never_the_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "narrow.db")
    write_rows(path, [record(1, request_id="rc-1d2e3f-17a522da", chosen_model="a-rather-long-model-name-v2")])
    monkeypatch.setenv("COLUMNS", "60")
    assert run_cli(cli_logs, ["--db", path]) == 0
    row = lines(capsys.readouterr().out)[1]
    assert len(row) <= 60
    assert "rc-1d2e3f-17a522da" in row and "a-rather-lo…" in row
