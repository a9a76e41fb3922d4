"""The runtime runs active health checks in the background, follows reloads, stops on close."""

from __future__ import annotations

import dataclasses

from tests.conftest import one_model_yaml


def with_health_check(config, **changes):
    hc = dataclasses.replace(config.resilience.health_check, **changes)
    return dataclasses.replace(config, resilience=dataclasses.replace(config.resilience, health_check=hc))


async def test_checks_start_with_the_sidecar_follow_reloads_and_stop_on_close(fake_factory, sidecar_factory):
    fp = await fake_factory("up")
    sc = await sidecar_factory(one_model_yaml(fp.openai_base))
    rt = sc.runtime
    assert rt is not None and rt.health_checks.running  # on by default
    config = rt.generation.config

    rt.apply(with_health_check(config, enabled=False))
    assert not rt.health_checks.running
    rt.apply(with_health_check(config, enabled=True, interval=7.0, timeout=1.5))
    assert rt.health_checks.running
    assert (rt.health_checks.checker.interval, rt.health_checks.timeout) == (7.0, 1.5)

    await sc.close()
    assert not rt.health_checks.running
