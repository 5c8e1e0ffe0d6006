"""flaky.py: same-code flips and passes on rerun are flaky; fixes and skips are not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration_kit.metrics.flaky import find_flaky
from integration_kit.metrics.history import StoredResult

pytestmark = pytest.mark.unit
Build = Callable[..., StoredResult]
T = "t.py::test_x"


def test_pass_and_fail_on_the_same_commit_is_flaky(stored: Build) -> None:
    results = [stored(i, T, o) for i, o in enumerate(["passed", "failed", "passed", "failed"], 1)]
    (flaky,) = find_flaky(results)
    assert flaky.nodeid == T
    assert flaky.flips == 3 and flaky.score == 1.0
    assert (flaky.passed, flaky.failed) == (2, 2)
    assert flaky.outcomes == ("passed", "failed", "passed", "failed")
    assert "commit c0ffee" in flaky.reasons[0]
    assert flaky.last_outcome == "failed" and flaky.last_run == 4


def test_a_fix_on_a_new_commit_is_not_flaky(stored: Build) -> None:
    results = [
        stored(1, T, "failed", commit="a"),
        stored(2, T, "failed", commit="a"),
        stored(3, T, "passed", commit="b"),
        stored(4, T, "passed", commit="b"),
    ]
    assert find_flaky(results) == []


def test_an_uncommitted_fix_changes_the_code_key(stored: Build) -> None:
    results = [stored(1, T, "failed", dirty="d1"), stored(2, T, "passed", dirty="d2")]
    assert find_flaky(results) == []
    results = [stored(1, T, "failed", dirty="d1"), stored(2, T, "passed", dirty="d1")]
    assert len(find_flaky(results)) == 1


def test_outside_git_the_test_file_hash_is_the_code(stored: Build) -> None:
    same = [stored(1, T, "failed", commit=None), stored(2, T, "passed", commit=None)]
    (flaky,) = find_flaky(same)
    assert "test file f1" in flaky.reasons[0]
    changed = [
        stored(1, T, "failed", commit=None, file_hash="f1"),
        stored(2, T, "passed", commit=None, file_hash="f2"),
    ]
    assert find_flaky(changed) == []


def test_passed_on_rerun_is_flaky_alone(stored: Build) -> None:
    results = [stored(1, T, "passed"), stored(2, T, "flaky", reruns=1), stored(3, T, "passed")]
    (flaky,) = find_flaky(results)
    assert flaky.passed_on_rerun == 1
    assert flaky.reasons == ("passed on rerun in run #2",)
    assert flaky.flips == 1
    assert flaky.score == pytest.approx(1 / 3, abs=1e-3)


def test_skips_and_xfails_are_ignored_and_the_flakiest_come_first(stored: Build) -> None:
    steady = "t.py::test_steady"
    rare = "t.py::test_rare"
    results = [stored(i, steady, "passed" if i % 2 else "skipped") for i in range(1, 7)]
    results += [stored(i, T, o) for i, o in enumerate(["passed", "xfailed", "failed", "passed"], 1)]
    results += [stored(i, rare, "failed" if i == 3 else "passed") for i in range(1, 7)]
    found = find_flaky(results)
    assert [f.nodeid for f in found] == [T, rare]
    assert found[0].score == 1.0
    assert found[1].score == pytest.approx(2 / 5)


def test_to_dict_is_json_ready(stored: Build) -> None:
    (flaky,) = find_flaky([stored(1, T, "passed"), stored(2, T, "error")])
    data = flaky.to_dict()
    assert data["nodeid"] == T and data["outcomes"] == ["passed", "error"]
    assert isinstance(data["reasons"], list)


def _ordered(
    stored: Callable[..., StoredResult], run: int, order: list[str], failing: set[str]
) -> list[StoredResult]:
    return [
        stored(run, nodeid, "failed" if nodeid in failing else "passed", position=i, worker="gw0")
        for i, nodeid in enumerate(order)
    ]


def test_an_order_dependent_flaky_test_fails_only_after_its_polluter(
    stored: Callable[..., StoredResult],
) -> None:
    """Shuffled runs on one commit: the target fails exactly when the polluter ran before it."""
    orders = [
        (["t::a", "t::polluter", "t::b", "t::target"], True),
        (["t::target", "t::polluter", "t::a", "t::b"], False),
        (["t::b", "t::polluter", "t::target", "t::a"], True),
        (["t::a", "t::b", "t::target", "t::polluter"], False),
    ]
    results = [
        r
        for run, (order, fails) in enumerate(orders, 1)
        for r in _ordered(stored, run, order, {"t::target"} if fails else set())
    ]
    (flaky,) = find_flaky(results)
    assert flaky.nodeid == "t::target" and flaky.pattern == "order" and flaky.after == ("t::polluter",)
    assert any(
        r.startswith("fails only after t::polluter: it ran before each of the 2 failures")
        for r in flaky.reasons
    )


def test_a_randomly_failing_test_is_told_apart(stored: Callable[..., StoredResult]) -> None:
    order = ["t::a", "t::b", "t::target"]
    results = [
        r for run in (1, 2, 3) for r in _ordered(stored, run, order, {"t::target"} if run == 2 else set())
    ]
    (flaky,) = find_flaky(results)
    assert flaky.pattern == "random" and flaky.after == ()
    assert any(r.startswith("fails at random") for r in flaky.reasons)
    # without recorded positions (an older history) the order is unknown
    (old,) = find_flaky([stored(1, "t::x", "failed"), stored(2, "t::x", "passed")])
    assert old.pattern == "unknown"
