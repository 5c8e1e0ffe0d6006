"""pollution.py: the bisection finds the polluter in at most ceil(log2 m) + 1 runs, for a
polluter at every position, and refuses with a code when there is none."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.suite.pollution import find_polluter

pytestmark = pytest.mark.unit
TARGET = "t.py::test_target"


def suite(polluter: str | None, *, fails_alone: bool = False, needs: str | None = None):  # type: ignore[no-untyped-def]
    """A runner modelling a suite: the target fails when ``polluter`` ran before it (after
    ``needs``, when given), or always."""
    calls: list[list[str]] = []

    def run(order: Sequence[str]) -> str:
        calls.append(list(order))
        assert order[-1] == TARGET
        before = order[:-1]
        polluted = polluter in before and (needs is None or needs in before)
        return "failed" if fails_alone or polluted else "passed"

    return run, calls


@pytest.mark.parametrize("m", [1, 2, 3, 5, 8, 13, 16, 33])
def test_finds_every_polluter_within_the_budget(m: int) -> None:
    before = [f"t.py::test_{i:02d}" for i in range(m)]
    for polluter in before:
        run, calls = suite(polluter)
        result = find_polluter(TARGET, before, run)
        assert result.polluter == polluter
        assert result.runs == len(calls) <= math.ceil(math.log2(m)) + 1 == result.budget
        # the answer is seen, never inferred: a run of just the polluter and the target failed
        assert [polluter, TARGET] in calls or (m == 1 and [TARGET] in calls)


def test_a_test_that_fails_alone_is_not_polluted() -> None:
    run, calls = suite(None, fails_alone=True)
    with raises_code(ErrorCode.SUITE_FAILS_ALONE):
        find_polluter(TARGET, [f"t::{i}" for i in range(6)], run)
    assert len(calls) <= math.ceil(math.log2(6)) + 1


def test_no_single_polluter_is_refused_with_a_code() -> None:
    before = [f"t::{i}" for i in range(8)]
    run, _ = suite("t::1", needs="t::6")  # only the two together pollute
    with raises_code(ErrorCode.SUITE_NOT_REPRODUCED):
        find_polluter(TARGET, before, run)
    run, _ = suite(None)  # the recorded failure does not come back (flaky)
    with raises_code(ErrorCode.SUITE_NOT_REPRODUCED):
        find_polluter(TARGET, before, run)
    with raises_code(ErrorCode.SUITE_NOT_REPRODUCED):
        find_polluter(TARGET, [], suite(None)[0])
