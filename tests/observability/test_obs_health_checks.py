"""`routecar_health_checks_total{provider,result}`: active health checks of open circuits."""

from __future__ import annotations

from routecar.observability.metrics import Metrics


def test_health_checks_are_counted_by_provider_and_result() -> None:
    m = Metrics(process_metrics=False)
    m.health_check("primary", True)
    m.health_check("primary", False)
    m.health_check("primary", False)
    text = m.render()[0].decode()
    assert 'routecar_health_checks_total{provider="primary",result="ok"} 1.0' in text
    assert 'routecar_health_checks_total{provider="primary",result="failed"} 2.0' in text
