"""The decision-time benchmark runs (its timings are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "router_bench.py"


def test_router_bench_runs():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--iterations", "40", "--strategy", "cheapest", "--strategy", "fastest"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "us/decision" in done.stdout and "cheapest" in done.stdout
