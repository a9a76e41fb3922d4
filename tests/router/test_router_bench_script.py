"""The decision-time benchmark runs (its timings are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "router_bench.py"


@pytest.mark.parametrize("args", [
    ["--strategy", "cheapest", "--strategy", "fastest"],
    ["--strategy", "balanced", "--health", "real"],
])
def test_router_bench_runs(args):
    done = subprocess.run([sys.executable, str(BENCH), "--iterations", "40", *args],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "us/decision" in done.stdout and args[1] in done.stdout


def test_router_bench_compares_two_trees_in_one_run():
    src = BENCH.parents[1] / "src"  # this tree against itself: the table is what is checked
    done = subprocess.run([sys.executable, str(BENCH), "--against", str(src), "--rounds", "1", "--iterations", "40",
                           "--strategy", "ordered"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "before" in done.stdout and "after" in done.stdout and "ordered" in done.stdout
