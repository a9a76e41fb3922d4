"""`routecar demo`: its per-second rows add up to its summary, and it stops on a signal."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from routecar.demo import EXIT_INTERRUPTED, Pace, Tally, _demo
from routecar.health import ManualClock
from tests.processes import LineReader, child, ignore_sigint_and_die_with_parent

ROUTECAR = str(Path(sys.executable).with_name("routecar"))
ROW = re.compile(r"^\s*(t=\d+s|after)\s+ok=(\d+)\s+failed=(\d+)", re.MULTILINE)
SUMMARY = re.compile(r"^(\d+)/(\d+) requests answered 200", re.MULTILINE)
STOP_WITHIN_S = 10.0  # the demo drains its sidecar and stops three fakes on the way out


def test_tally_counts_each_request_in_exactly_one_row() -> None:
    tally = Tally()
    tally.record(200, "primary", 20.0)
    tally.record(502, "", 5.0, "http 502")
    first = tally.close()
    tally.record(200, "backup", 900.0)  # sent in the first second, answered in the second
    second = tally.close()
    tally.record(None, "", 10_000.0, "cancelled")  # still in flight when the sending stopped
    rows = [first, second, tally.close()]
    assert [(s.ok, s.failed) for s in rows] == [(1, 1), (1, 0), (0, 1)]
    assert sum(s.answered for s in rows) == tally.answered == 4
    assert tally.totals["ok"] == 2 and tally.totals["http 502"] == 1 and tally.totals["cancelled"] == 1
    assert tally.totals["primary"] == 1 and tally.totals["backup"] == 1


async def test_the_rows_add_up_to_the_summary_last_second_included() -> None:
    """Paced by a manual clock, so the run takes no wall time: the requests (real HTTP to the
    in-process sidecar) are answered after the sending has moved on, the case where rows once
    missed answers, and the last second's row was never printed."""
    clock = ManualClock()
    out = io.StringIO()
    code = await _demo(seconds=3, rps=5, pace=Pace(clock, clock.advance), out=out)
    text = out.getvalue()
    rows = ROW.findall(text)
    labels = [label for label, _, _ in rows]
    assert labels[:3] == ["t=0s", "t=1s", "t=2s"] and set(labels[3:]) <= {"after"}
    summary = SUMMARY.search(text)
    assert summary is not None, text
    ok, answered = int(summary[1]), int(summary[2])
    assert answered == 3 * 5  # every request sent is in the summary...
    assert sum(int(o) + int(f) for _, o, f in rows) == answered  # ...and in exactly one row
    assert sum(int(o) for _, o, _ in rows) == ok
    assert code == (0 if ok == answered else 1)


@pytest.mark.parametrize("command", [["demo", "--seconds", "60", "--rps", "5"],
                                     ["fake-provider", "--port", "0"]])
def test_long_running_commands_stop_on_sigint_even_started_with_it_ignored(command: list[str]) -> None:
    """As a script's background job (`routecar demo &`) starts: SIGINT ignored. It must still
    stop on SIGINT, promptly and cleanly."""
    with child([ROUTECAR, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               preexec_fn=ignore_sigint_and_die_with_parent) as proc:
        out = LineReader(proc.stdout)
        out.expect("t=0s" if command[0] == "demo" else "listening on")  # its handlers are in place
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=STOP_WITHIN_S)
        rest = out.rest()
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
    assert "Traceback" not in err
    if command[0] == "demo":
        assert code == EXIT_INTERRUPTED and "demo stopped" in rest
    else:
        assert code == 0
