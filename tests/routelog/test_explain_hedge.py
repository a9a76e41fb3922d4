"""`routecar explain` marks a hedge attempt and shows what the race's loser cost."""

from routecar.routelog.cli_explain import _error_cell


def test_the_losers_cell_names_its_cost_and_whether_it_is_estimated() -> None:
    lost = {"error": "hedge_lost", "lost": True, "cost_usd": 0.000008, "cost_estimated": True}
    assert _error_cell(lost) == "hedge_lost (cost $0.000008, estimated)"
    assert _error_cell({"error": None}) == "-"
    assert _error_cell({"error": "http_5xx", "hedge": True}) == "http_5xx"
