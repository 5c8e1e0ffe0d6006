"""Run history (SQLite), flaky tests, duration trends, sharding by duration, HTML reports.

The pytest plugin (:mod:`integration_kit.metrics.plugin`) records every run; the rest
reads the history::

    from integration_kit.metrics import History, flaky_tests, plan_shards

    with History(Path(".integration-kit/history.sqlite"), create=False) as history:
        for test in flaky_tests(history, window=20):
            print(test.nodeid, test.score, test.reasons)
"""

from integration_kit.metrics.flaky import FlakyTest, find_flaky, flaky_tests
from integration_kit.metrics.history import History, ResultRecord, RunRecord, StoredResult, StoredRun
from integration_kit.metrics.report import render_report, write_report
from integration_kit.metrics.sharding import Shard, ShardPlan, ShardSpec, parse_shard, plan_shards
from integration_kit.metrics.trends import (
    CategoryTotal,
    Regression,
    SlowTest,
    category_totals,
    duration_regressions,
    median_durations,
    slowest_tests,
    trends,
)

__all__ = [
    "CategoryTotal",
    "FlakyTest",
    "History",
    "Regression",
    "ResultRecord",
    "RunRecord",
    "Shard",
    "ShardPlan",
    "ShardSpec",
    "SlowTest",
    "StoredResult",
    "StoredRun",
    "category_totals",
    "duration_regressions",
    "find_flaky",
    "flaky_tests",
    "median_durations",
    "parse_shard",
    "plan_shards",
    "render_report",
    "slowest_tests",
    "trends",
    "write_report",
]
