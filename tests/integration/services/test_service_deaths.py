"""A service killed mid-run is named: the test whose own connection fails, and every later
test that needs the service, fail with ``IK-SVC-DIED`` naming it (PostgreSQL, Redis, Kafka
on docker and local; and under ``-n 2``, on both workers, one of which did not start it).
Tests that do not need it pass. The latency is measured by ``benchmarks/interruptions.py``."""

from __future__ import annotations

import pytest
from inner_runs import EXPECTED_DEATHS, kill_service_run, local_missing

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _require(request: pytest.FixtureRequest, backend: str, service: str) -> None:
    if backend == "docker":
        request.getfixturevalue("docker_settings")
    else:
        missing = local_missing(service)
        if missing:
            pytest.skip(f"local {service} not installed here: {missing}")


def _check(outcome: object, service: str, modules: int) -> None:
    from inner_runs import Death

    assert isinstance(outcome, Death)
    failed = {(r["nodeid"], r["when"]) for r in outcome.reports}
    died = outcome.died_reports()
    assert outcome.returncode == 1, outcome.output[-3000:]
    for name in EXPECTED_DEATHS:
        hits = [r for r in died if r["nodeid"].endswith(name)]
        assert len(hits) == modules, (name, failed, outcome.output[-3000:])
        for report in hits:
            assert f"Service '{service}'" in report["text"], report["text"]
            assert "exit code" in report["text"]
            assert "IK-KAFKA-TOPIC-NOT-READY" not in report["text"]
    assert not [r for r in outcome.reports if "test_5_needs_nothing" in r["nodeid"]], failed
    assert outcome.leftovers.total == 0, outcome.leftovers.detail


@pytest.mark.parametrize("service", ["postgres", "redis", "kafka"])
@pytest.mark.parametrize("backend", ["docker", "local"])
def test_a_killed_service_fails_the_tests_that_need_it(
    request: pytest.FixtureRequest, backend: str, service: str
) -> None:
    _require(request, backend, service)
    _check(kill_service_run(backend, service), service, modules=1)


@pytest.mark.parametrize("backend", ["docker", "local"])
def test_under_xdist_every_worker_sees_the_death(request: pytest.FixtureRequest, backend: str) -> None:
    _require(request, backend, "redis")
    _check(kill_service_run(backend, "redis", workers=2), "redis", modules=2)
