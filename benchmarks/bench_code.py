"""Which routecar code a benchmark runs: a snapshot of the working tree or of the committed HEAD.

Every run copies src/ first, so edits others make while it runs cannot change what is measured,
and compiles the copy to bytecode, as `pip install` does for the image (this environment sets
PYTHONDONTWRITEBYTECODE, which would otherwise make every cold start compile from source).
Children find the copy first through PYTHONPATH. Git is only read (rev-parse, diff --quiet,
archive); nothing in the repository changes.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
from pathlib import Path

from bench_procs import ROOT


def _git(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30)


def _head() -> str:
    try:
        return _git("rev-parse", "--short", "HEAD").stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def prepare_code(workdir: Path, head: bool) -> str:
    """Snapshot src/ into `workdir`, compile it, point children at it; returns a description."""
    dest = workdir / "code"
    dest.mkdir(parents=True)
    if head:
        archive = subprocess.run(["git", "archive", "HEAD", "src"], cwd=ROOT, capture_output=True, timeout=60,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
        what = f"committed HEAD {_head()}"
    else:
        shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        try:
            dirty = _git("diff", "--no-ext-diff", "--quiet", "HEAD", "--", "src").returncode == 1
        except (OSError, subprocess.SubprocessError):
            dirty = False
        what = f"working tree at {_head()}" + (" with uncommitted changes in src/" if dirty else "")
    if not compileall.compile_dir(str(dest / "src"), quiet=1, workers=1):
        raise RuntimeError(f"the snapshot of src/ does not compile ({what})")
    # PYTHONPATH comes before the editable install on sys.path, in every child process.
    os.environ["PYTHONPATH"] = str(dest / "src")
    return what + " (snapshot, compiled)"
