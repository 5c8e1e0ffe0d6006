"""Trends in the run history: duration regressions, slowest tests, totals per category."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from integration_kit.metrics.history import (
    CATEGORIES,
    FAILING,
    History,
    ResultRecord,
    StoredResult,
    StoredRun,
)

TIMED = frozenset({"passed", "failed", "error", "xpassed", "flaky"})


@dataclass(frozen=True, kw_only=True)
class Regression:
    """A test whose median duration grew: ``recent`` runs against the ``previous`` ones."""

    nodeid: str
    previous: float
    recent: float

    @property
    def ratio(self) -> float:
        return self.recent / self.previous if self.previous > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": round(self.ratio, 3)}


@dataclass(frozen=True, kw_only=True)
class SlowTest:
    """A test's median and last duration over the runs it appeared in."""

    nodeid: str
    median: float
    last: float
    runs: int
    category: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class CategoryTotal:
    """Tests, failures and summed duration of one category in one run."""

    category: str
    tests: int
    failed: int
    duration: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _by_test(results: Iterable[StoredResult], outcomes: frozenset[str]) -> dict[str, list[StoredResult]]:
    grouped: dict[str, list[StoredResult]] = {}
    for result in sorted(results, key=lambda r: r.run_id):
        if result.outcome in outcomes:
            grouped.setdefault(result.nodeid, []).append(result)
    return grouped


def median_durations(results: Iterable[StoredResult]) -> dict[str, float]:
    """Median duration per test over ``results`` (skips and xfails ignored)."""
    return {
        nodeid: statistics.median(r.duration for r in rs) for nodeid, rs in _by_test(results, TIMED).items()
    }


def duration_regressions(
    results: Iterable[StoredResult],
    *,
    window: int = 5,
    threshold: float = 1.5,
    min_delta: float = 0.05,
) -> list[Regression]:
    """Tests whose median duration over their last ``window`` passing runs is at least
    ``threshold`` times the median of the ``window`` runs before, and at least
    ``min_delta`` seconds longer (tiny tests are noise). Worst ratio first."""
    found = []
    for nodeid, rs in _by_test(results, frozenset({"passed", "flaky"})).items():
        if len(rs) < 2 * window:
            continue
        recent = statistics.median(r.duration for r in rs[-window:])
        previous = statistics.median(r.duration for r in rs[-2 * window : -window])
        if recent >= threshold * previous and recent - previous >= min_delta:
            found.append(Regression(nodeid=nodeid, previous=previous, recent=recent))
    return sorted(found, key=lambda r: (-r.ratio, r.nodeid))


def slowest_tests(results: Iterable[StoredResult], *, limit: int = 10) -> list[SlowTest]:
    """The ``limit`` tests with the longest median duration."""
    slow = [
        SlowTest(
            nodeid=nodeid,
            median=statistics.median(r.duration for r in rs),
            last=rs[-1].duration,
            runs=len(rs),
            category=rs[-1].category,
        )
        for nodeid, rs in _by_test(results, TIMED).items()
    ]
    return sorted(slow, key=lambda s: (-s.median, s.nodeid))[:limit]


def category_totals(results: Iterable[ResultRecord]) -> list[CategoryTotal]:
    """Per category (``unit``, ``integration``, ``e2e``, ``other``): tests, failures, seconds."""
    totals: dict[str, list[float]] = {name: [0, 0, 0.0] for name in (*CATEGORIES, "other")}
    for result in results:
        entry = totals[result.category]
        entry[0] += 1
        entry[1] += result.outcome in FAILING
        entry[2] += result.duration
    return [
        CategoryTotal(category=name, tests=int(t), failed=int(f), duration=d)
        for name, (t, f, d) in totals.items()
        if t
    ]


@dataclass(frozen=True, kw_only=True)
class Trends:
    """Everything ``integration-kit metrics trends`` shows."""

    runs: Sequence[StoredRun]
    regressions: Sequence[Regression]
    slowest: Sequence[SlowTest]
    categories: Sequence[CategoryTotal]

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [
                {
                    "id": run.id,
                    "started_at": run.started_at,
                    "wall_time": run.wall_time,
                    "workers": run.workers,
                    "shard": run.shard,
                    "git_commit": run.git_commit,
                    "counts": run.counts,
                }
                for run in self.runs
            ],
            "regressions": [r.to_dict() for r in self.regressions],
            "slowest": [s.to_dict() for s in self.slowest],
            "categories": [c.to_dict() for c in self.categories],
        }


def trends(
    history: History,
    *,
    window: int = 5,
    threshold: float = 1.5,
    min_delta: float = 0.05,
    limit: int = 10,
) -> Trends:
    """Regressions over the last ``4 * window`` runs (tests need ``2 * window`` passing
    results among them), the slowest tests of the last ``window`` runs and the category
    totals of the latest run."""
    runs = history.runs()
    recent = history.results(last_runs=4 * window)
    latest_id = runs[-1].id if runs else None
    last_window_ids = {run.id for run in runs[-window:]}
    return Trends(
        runs=runs,
        regressions=duration_regressions(recent, window=window, threshold=threshold, min_delta=min_delta),
        slowest=slowest_tests([r for r in recent if r.run_id in last_window_ids], limit=limit),
        categories=category_totals(r for r in recent if r.run_id == latest_id),
    )
