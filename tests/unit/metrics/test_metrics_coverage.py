"""coverage_trend.py: drops per package and the trend read back from the history."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.metrics.coverage_trend import coverage_drops, coverage_trend
from integration_kit.metrics.history import CoverageRecord, History, ResultRecord, RunRecord

pytestmark = pytest.mark.unit


def _cov(total: tuple[int, int], **packages: tuple[int, int]) -> list[CoverageRecord]:
    records = [CoverageRecord(package="", statements=total[0], covered=total[1])]
    records += [CoverageRecord(package=k, statements=s, covered=c) for k, (s, c) in packages.items()]
    return records


def test_drops_above_the_threshold_are_flagged_per_package() -> None:
    before = _cov((200, 180), pkg_a=(100, 90), pkg_b=(100, 90))
    after = _cov((200, 170), pkg_a=(100, 80), pkg_b=(100, 90))
    drops = coverage_drops(before, after, run_id=2, previous_run=1, threshold=1.0)
    assert [(d.package, round(d.delta, 2)) for d in drops] == [("", -5.0), ("pkg_a", -10.0)]
    assert coverage_drops(before, after, run_id=2, previous_run=1, threshold=10.0) == []
    assert CoverageRecord(package="", statements=0, covered=0).percent == 100.0


def test_trend_skips_runs_without_coverage(tmp_path: Path) -> None:
    result = [ResultRecord(nodeid="t.py::x", outcome="passed")]
    with History(tmp_path / "h.sqlite") as history:
        first = history.record(
            RunRecord(started_at=1.0, finished_at=2.0), result, coverage=_cov((10, 9), p=(10, 9))
        )
        history.record(RunRecord(started_at=3.0, finished_at=4.0), result)  # no pytest-cov in this run
        last = history.record(
            RunRecord(started_at=5.0, finished_at=6.0), result, coverage=_cov((10, 7), p=(10, 7))
        )
        trend = coverage_trend(history, threshold=1.0)
    assert [(p.run_id, p.percent) for p in trend.points] == [(first, 90.0), (last, 70.0)]
    assert [(d.package, d.previous_run, d.run_id) for d in trend.drops] == [
        ("", first, last),
        ("p", first, last),
    ]
    data = trend.to_dict()
    assert data["packages"] == [
        {"package": "p", "percent": 70.0, "statements": 10, "covered": 7, "previous": 90.0}
    ]
    assert data["drops"][0]["package"] == "(total)" and data["drops"][0]["delta"] == -20.0
