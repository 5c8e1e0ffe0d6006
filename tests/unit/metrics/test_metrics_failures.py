"""failures.py: failure identity (code or type + normalized message) and groups across runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration_kit.metrics.failures import group_failures, identify, is_infrastructure, normalize
from integration_kit.metrics.history import StoredResult

pytestmark = pytest.mark.unit


def test_a_kit_error_is_identified_by_its_code_and_run_specific_values_are_replaced() -> None:
    one = identify(
        "integration_kit.errors.KafkaError: [IK-KAFKA-TOPIC-NOT-READY] "
        "not ready within 1.50s on 127.0.0.1:39123"
    )
    two = identify(
        "integration_kit.errors.KafkaError: [IK-KAFKA-TOPIC-NOT-READY] "
        "not ready within 3.00s on 127.0.0.1:40001"
    )
    assert one == two and one[0] == "IK-KAFKA-TOPIC-NOT-READY"
    assert identify("AssertionError: assert 3 == 4") == identify("AssertionError: assert 5 == 6")
    assert identify("assert 0")[0] == "AssertionError"
    assert identify("ValueError: bad /tmp/pytest-of-u/p0/f.txt at 0xdeadbeef") == (
        "ValueError",
        "bad <tmp> at <addr>",
    )
    assert identify("Failed: DID NOT RAISE <class 'ValueError'>")[0] == "Failed"
    assert normalize("first\nsecond") == "first" and len(normalize("x" * 500)) == 200


def test_infrastructure_failures_are_the_services(stored: Callable[..., StoredResult]) -> None:
    assert is_infrastructure("IK-SVC-START-FAILED") and is_infrastructure("IK-HEALTH-TIMEOUT")
    assert is_infrastructure("ServiceError") and not is_infrastructure("IK-KAFKA-TOPIC-NOT-READY")
    assert not is_infrastructure("AssertionError")


def test_failures_group_across_runs_with_first_and_last_seen(stored: Callable[..., StoredResult]) -> None:
    results = [
        stored(1, "t.py::a", "failed", failure_type="AssertionError", failure_message="assert N == N"),
        stored(2, "t.py::a", "failed", failure_type="AssertionError", failure_message="assert N == N"),
        stored(2, "t.py::b", "failed", failure_type="AssertionError", failure_message="assert N == N"),
        stored(
            3,
            "t.py::c",
            "error",
            failure_type="IK-SVC-START-FAILED",
            failure_message="postgres did not start",
        ),
        stored(3, "t.py::a", "passed"),
        stored(4, "t.py::d", "failed", failure_type="KeyError", failure_message="'sku'"),
        stored(4, "t.py::e", "failed"),  # recorded by an older kit: no identity
    ]
    groups = group_failures(results)
    first = groups[0]
    assert (first.failure_type, first.count, first.runs, first.tests) == (
        "AssertionError",
        3,
        2,
        ("t.py::a", "t.py::b"),
    )
    assert (first.first_run, first.last_run, first.first_seen) == (1, 2, 1001.0)
    infra = [g for g in groups if g.infrastructure]
    assert [g.failure_type for g in infra] == ["IK-SVC-START-FAILED"] and groups[-1].infrastructure
    assert {g.failure_type for g in groups} == {
        "AssertionError",
        "IK-SVC-START-FAILED",
        "KeyError",
        "unknown",
    }
    assert first.to_dict()["tests"] == ["t.py::a", "t.py::b"]
