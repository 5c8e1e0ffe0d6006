"""trends.py: regressions compare medians of windows; slowest tests; category totals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration_kit.metrics.history import StoredResult
from integration_kit.metrics.trends import (
    category_totals,
    duration_regressions,
    median_durations,
    slowest_tests,
)

pytestmark = pytest.mark.unit
Build = Callable[..., StoredResult]


def _series(stored: Build, nodeid: str, durations: list[float]) -> list[StoredResult]:
    return [stored(i, nodeid, "passed", duration=d) for i, d in enumerate(durations, 1)]


def test_a_slowdown_beyond_threshold_is_a_regression(stored: Build) -> None:
    slower = _series(stored, "t::slower", [0.2, 0.21, 0.19, 0.2, 0.22, 0.5, 0.45, 5.0, 0.48, 0.5])
    steady = _series(stored, "t::steady", [0.2] * 10)
    (regression,) = duration_regressions(slower + steady, window=5, threshold=1.5)
    assert regression.nodeid == "t::slower"
    assert regression.previous == pytest.approx(0.2)
    assert regression.recent == pytest.approx(0.5)  # the median ignores the 5 s outlier
    assert regression.ratio == pytest.approx(2.5)
    assert regression.to_dict()["ratio"] == 2.5


def test_tiny_or_short_series_are_not_regressions(stored: Build) -> None:
    tiny = _series(stored, "t::tiny", [0.001] * 5 + [0.004] * 5)
    short = _series(stored, "t::short", [0.1] * 5 + [1.0] * 4)
    assert duration_regressions(tiny + short, window=5, min_delta=0.05) == []
    assert [r.nodeid for r in duration_regressions(tiny, window=5, min_delta=0.0)] == ["t::tiny"]


def test_failures_do_not_count_towards_regressions(stored: Build) -> None:
    results = _series(stored, "t::x", [0.1] * 5) + [
        stored(6 + i, "t::x", "failed", duration=9.0) for i in range(5)
    ]
    assert duration_regressions(results, window=5) == []


def test_slowest_tests_use_the_median(stored: Build) -> None:
    results = _series(stored, "t::a", [1.0, 1.0, 9.0]) + _series(stored, "t::b", [2.0, 2.0, 2.0])
    results.append(stored(4, "t::skipped", "skipped", duration=50.0))
    slow = slowest_tests(results, limit=5)
    assert [s.nodeid for s in slow] == ["t::b", "t::a"]
    assert slow[1].median == 1.0 and slow[1].last == 9.0 and slow[1].runs == 3
    assert len(slowest_tests(results, limit=1)) == 1


def test_category_totals(stored: Build) -> None:
    results = [
        stored(1, "u1", markers=("unit",), duration=0.1),
        stored(1, "u2", "failed", markers=("unit", "slow"), duration=0.2),
        stored(1, "i1", markers=("integration",), duration=1.0),
        stored(1, "o1", duration=0.5),
    ]
    totals = {t.category: t for t in category_totals(results)}
    assert set(totals) == {"unit", "integration", "other"}
    assert totals["unit"].tests == 2 and totals["unit"].failed == 1
    assert totals["unit"].duration == pytest.approx(0.3)
    assert totals["integration"].duration == pytest.approx(1.0)


def test_median_durations(stored: Build) -> None:
    results = [*_series(stored, "t::a", [1.0, 3.0, 2.0]), stored(1, "t::s", "skipped")]
    assert median_durations(results) == {"t::a": 2.0}
