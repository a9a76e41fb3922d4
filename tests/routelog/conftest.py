"""The route log commands fit their tables to $COLUMNS: a developer's exported COLUMNS must
not change what these tests see, so each starts without it (a test that wants a width sets it)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
