"""run_summary: start-ups since a point, one row per service, categories and the table."""

from __future__ import annotations

import pytest

from integration_kit.run_summary import RunSummary, Startup, category, startups
from integration_kit.services.session import StartRecord

pytestmark = pytest.mark.unit


def record(key: str, seconds: float, backend: str, **extra: object) -> StartRecord:
    return StartRecord(key=key, seconds=seconds, attempts=1, backend=backend, extra=dict(extra))


def test_only_new_or_restarted_services_count() -> None:
    pg = record("postgres", 1.5, "docker", version="15")
    before = {"postgres": id(pg)}
    api = record("api", 0.8, "process")
    rows = startups({"postgres": pg, "api": api}, before, scope="t.py::TestA")
    assert rows == [Startup("api", "process", "process", "", 0.8, True, "t.py::TestA")]
    assert rows[0].nodeid("gw1") == "integration-kit::startup::api (t.py::TestA) [gw1]"
    again = startups({"postgres": pg}, {})
    assert again[0].nodeid("gw1") == "integration-kit::startup::postgres" and again[0].version == "15"


def test_a_service_is_shown_once_with_the_start_that_started_it() -> None:
    summary = RunSummary(configured_backend="auto")
    summary.add_startups(
        [
            Startup("kafka", "kafka", "docker", "4.1.1", 0.2, started_here=False),  # waited
            Startup("kafka", "kafka", "docker", "4.1.1", 6.5),
            Startup("api", "process", "process", "", 0.9, scope="a"),
            Startup("api", "process", "process", "", 1.4, scope="b"),
        ]
    )
    for nodeid, keywords, outcome in [
        ("a", {"unit": 1}, "passed"),
        ("b", {"e2e": 1, "integration_kit": 1}, "failed"),
        ("c", {"contract": 1}, "skipped"),
        ("d", {}, "passed"),
    ]:
        summary.add_outcome(nodeid, keywords, outcome)
    assert [(row.key, row.seconds) for row in summary.services()] == [("kafka", 6.5)]
    lines = summary.lines()
    assert lines[0].endswith("(unit 1, e2e 1, contract 1, other 1); 1 failed, 1 skipped")
    assert lines[1] == "integration-kit: backend docker (configured: auto)"
    assert any(line.split()[:2] == ["kafka", "docker"] and "6.50 s" in line for line in lines)
    assert any("api (process, 2 starts)" in line and "1.40 s (slowest)" in line for line in lines)


def test_an_error_in_teardown_turns_a_pass_into_an_error() -> None:
    summary = RunSummary()
    summary.add_outcome("t", {"unit": 1}, "passed")
    summary.add_outcome("t", {"unit": 1}, "error")
    summary.add_outcome("t", {"unit": 1}, "passed")
    assert summary.outcomes == {"unit": {"t": "error"}}


def test_the_category_is_the_first_category_marker() -> None:
    assert category(["integration", "e2e"]) == "integration"
    assert category(["slow"]) == "other"
