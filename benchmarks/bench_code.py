"""Which routecar code a benchmark runs: a snapshot of the working tree or of a committed revision.

Every run copies src/ first, so edits others make while it runs cannot change what is measured,
and compiles the copy to bytecode, as `pip install` does for the image (this environment sets
PYTHONDONTWRITEBYTECODE, which would otherwise make every cold start compile from source).
Children find the copy first through PYTHONPATH: the code under test through the process-wide
environment, a baseline through the environment of its own processes only. Git is only read
(rev-parse, diff --quiet, archive); nothing in the repository changes.
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


def short_rev(rev: str) -> str:
    """`rev` as a short commit id; raises if git does not know it."""
    proc = _git("rev-parse", "--verify", "--short", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise RuntimeError(f"not a git revision: {rev!r} ({proc.stderr.strip()})")
    return proc.stdout.strip()


def snapshot(dest: Path, rev: str | None) -> tuple[Path, str]:
    """src/ of `rev` (None: the working tree) copied under `dest` and compiled.

    Returns the directory to put on PYTHONPATH and a description of what it holds.
    """
    dest.mkdir(parents=True)
    if rev is not None:
        commit = short_rev(rev)
        archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, capture_output=True, timeout=60,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=60)
        what = f"committed {'HEAD ' if rev == 'HEAD' else ''}{commit}"
    else:
        shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        try:
            dirty = _git("diff", "--no-ext-diff", "--quiet", "HEAD", "--", "src").returncode == 1
            head = short_rev("HEAD")
        except (OSError, subprocess.SubprocessError, RuntimeError):
            dirty, head = False, "unknown"
        what = f"working tree at {head}" + (" with uncommitted changes in src/" if dirty else "")
    if not compileall.compile_dir(str(dest / "src"), quiet=1, workers=1):
        raise RuntimeError(f"the snapshot of src/ does not compile ({what})")
    return dest / "src", what + " (snapshot, compiled)"


def prepare_code(workdir: Path, rev: str | bool | None) -> str:
    """Snapshot the code under test and point every child at it; returns a description.

    `rev` is a git revision, None for the working tree, or a bool (the other scripts' `--head`).
    """
    src, what = snapshot(workdir / "code", "HEAD" if rev is True else rev or None)
    # PYTHONPATH comes before the editable install on sys.path, in every child process.
    os.environ["PYTHONPATH"] = str(src)
    return what
