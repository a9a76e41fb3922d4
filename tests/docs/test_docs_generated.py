"""The generated tables of docs/ (route-log columns, outcomes, attempt_log keys, migrations,
metric families) are current, complete and agree with the code."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from routecar.docs import REGENERATE
from routecar.docs import tables
from routecar.docs.pages import block_names, pages, refresh
from routecar.routelog.schema import COLUMN_NAMES, migrate

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Which page holds which generated block: a block whose markers were deleted is caught too.
EXPECTED_BLOCKS = {
    "route-log.md": ["route-log-columns", "route-log-outcomes", "route-log-attempt-keys", "route-log-migrations"],
    "metrics.md": ["metric-families"],
}


def test_every_expected_block_is_on_its_page() -> None:
    found = {path.name: block_names(text) for path, text in pages(REPO).items()}
    assert found == EXPECTED_BLOCKS
    assert set(name for names in EXPECTED_BLOCKS.values() for name in names) == set(tables.BLOCKS)


@pytest.mark.parametrize("page", sorted(EXPECTED_BLOCKS))
def test_generated_tables_are_current(page: str) -> None:
    text = (DOCS / page).read_text(encoding="utf-8")
    assert refresh(text) == text, (
        f"docs/{page} is stale: the code it documents changed. Regenerate it with `{REGENERATE}` "
        "and commit the result.")


def test_a_column_without_a_meaning_fails_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "COLUMNS", (*tables.COLUMNS, ("region", "TEXT")))
    with pytest.raises(tables.StaleDocs, match="region"):
        tables.route_log_columns()


def test_a_meaning_without_a_column_fails_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tables, "OUTCOME_DOCS", {**tables.OUTCOME_DOCS, "gone": "no longer an outcome"})
    with pytest.raises(tables.StaleDocs, match="gone"):
        tables.outcomes()


def test_every_route_log_column_is_on_the_page() -> None:
    text = (DOCS / "route-log.md").read_text(encoding="utf-8")
    for name in ("id", *COLUMN_NAMES):
        assert f"| `{name}` |" in text, name


def test_every_metric_family_and_label_is_on_the_page() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    labels_section = text.split("## Labels", 1)[1].split("\n## ", 1)[0]
    glossary = set(re.findall(r"^\| `([a-z_]+)` \|", labels_section, re.M))
    families = tables.metric_families()
    assert len(families) > 20
    for name, _kind, _doc, labels in families:
        assert name.startswith("routecar_"), name
        assert f"| `{name}` |" in text, name
        assert set(labels) <= glossary, f"{name}: labels {set(labels) - glossary} missing from the Labels table"


def _sql_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, re.S)


@pytest.mark.parametrize("query", _sql_blocks("route-log.md"), ids=lambda q: q.splitlines()[0][3:40])
def test_example_queries_run_on_the_current_schema(query: str, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "routes.db")
    try:
        migrate(conn)
        conn.execute(
            "INSERT INTO route_log (ts, request_id, endpoint, route, provider, status, outcome, attempt_log, skipped, "
            "tags, fallback, cache, latency_ms, cost_usd) VALUES (strftime('%s', 'now'), 'r1', 'chat', 'fast', "
            "'openai', 502, 'upstream_error', "
            "'[{\"provider\": \"openai\", \"error\": \"http_5xx\"}]', '[{\"why\": \"circuit_open\"}]', "
            "'{\"team\": \"search\"}', 0, 'miss', 12.5, 0.001)")
        rows = conn.execute(query).fetchall()
    finally:
        conn.close()
    assert rows, "the example query found nothing in a row made for it"


def test_the_command_reports_and_rewrites_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from routecar.docs.__main__ import main

    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "metrics.md"
    page.write_text("# Metrics\n\n<!-- generated:metric-families -->\nold table\n<!-- end generated -->\n\nafter\n")
    assert main(["--check", str(tmp_path)]) == 1
    assert f"regenerate with `{REGENERATE}`" in capsys.readouterr().out
    assert main([str(tmp_path)]) == 0
    text = page.read_text()
    assert "old table" not in text and "`routecar_requests_total`" in text and text.endswith("\n\nafter\n")
    assert main(["--check", str(tmp_path)]) == 0
