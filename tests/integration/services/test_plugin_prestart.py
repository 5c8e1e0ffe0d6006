"""The plugin starts every service the selected tests need, together, before the first."""

from __future__ import annotations

import pytest

from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

OUTER_RUN = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
TESTS = """
def test_redis_only(ik_redis, ik_session):
    print("started:", sorted(ik_session.records))

def test_postgres_only(ik_postgres):
    pass
"""


@pytest.fixture
def inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ik_redis: Endpoint, ik_postgres: Endpoint
) -> pytest.Pytester:
    """Inner runs reach the outer run's servers through the external backend."""
    pytester.makeini(INI)
    for name in OUTER_RUN:  # the inner run is a run of its own, even when this one uses xdist
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("INTEGRATION_KIT_REDIS_URL", f"redis://{ik_redis.host}:{ik_redis.port}/0")
    monkeypatch.setenv("INTEGRATION_KIT_POSTGRES_URL", ik_postgres.dsn)
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", "auto")
    pytester.makepyfile(TESTS)
    return pytester


def test_the_first_test_finds_every_needed_service_started(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-s", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*started: ?'postgres', 'redis'?*"])


def test_only_the_selected_tests_count(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-s", "-k", "redis_only")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*started: ?'redis'?*"])


def test_the_header_and_summary_name_the_backend(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-p", "no:randomly")
    result.stdout.fnmatch_lines(
        [
            "integration-kit: backend auto (external where a URL is set, else docker, else local)",
            "*",
            "integration-kit: 2 tests in * s (other 2)",
            "integration-kit: backend external (configured: auto)",
            "*service / process*backend*version*start-up*",
            "*postgres*external*15*",
            "*redis*external*7*",
        ],
        consecutive=False,
    )


def test_under_xdist_the_summary_names_the_backend_auto_picked(inner: pytest.Pytester) -> None:
    """The run's services are shared across workers; the summary still names who runs them."""
    result = inner.runpytest_subprocess("-p", "no:randomly", "-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "integration-kit: backend external (configured: auto)",
            "*postgres*external*15*",
            "*redis*external*7*",
        ],
        consecutive=False,
    )
    result.stdout.no_fnmatch_line("*postgres*auto*15*")


def test_start_ups_are_rows_of_their_own_in_the_history(inner: pytest.Pytester) -> None:
    import sqlite3

    db = inner.path / "history.sqlite"
    inner.runpytest_subprocess("-p", "no:randomly", f"--ik-metrics-db={db}").assert_outcomes(passed=2)
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT nodeid, markers FROM results"))
    assert rows["integration-kit::startup::redis"].split(",")[0] == "startup"
    assert "backend:external" in rows["integration-kit::startup::postgres"]
    assert len([n for n in rows if not n.startswith("integration-kit::")]) == 2
