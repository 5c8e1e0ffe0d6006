"""Run history (SQLite), flaky tests, duration trends, sharding by duration, HTML reports.

The pytest plugin (:mod:`integration_kit.metrics.plugin`) records every run; the rest
reads the history::

    from integration_kit.metrics import History, flaky_tests, plan_shards

    with History(Path(".integration-kit/history.sqlite"), create=False) as history:
        for test in flaky_tests(history, window=20):
            print(test.nodeid, test.score, test.reasons)

Names are imported on first use (PEP 562), so importing the plugin stays light.
"""

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports

if TYPE_CHECKING:
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

_LAZY = {
    "CategoryTotal": "integration_kit.metrics.trends",
    "FlakyTest": "integration_kit.metrics.flaky",
    "History": "integration_kit.metrics.history",
    "Regression": "integration_kit.metrics.trends",
    "ResultRecord": "integration_kit.metrics.history",
    "RunRecord": "integration_kit.metrics.history",
    "Shard": "integration_kit.metrics.sharding",
    "ShardPlan": "integration_kit.metrics.sharding",
    "ShardSpec": "integration_kit.metrics.sharding",
    "SlowTest": "integration_kit.metrics.trends",
    "StoredResult": "integration_kit.metrics.history",
    "StoredRun": "integration_kit.metrics.history",
    "category_totals": "integration_kit.metrics.trends",
    "duration_regressions": "integration_kit.metrics.trends",
    "find_flaky": "integration_kit.metrics.flaky",
    "flaky_tests": "integration_kit.metrics.flaky",
    "median_durations": "integration_kit.metrics.trends",
    "parse_shard": "integration_kit.metrics.sharding",
    "plan_shards": "integration_kit.metrics.sharding",
    "render_report": "integration_kit.metrics.report",
    "slowest_tests": "integration_kit.metrics.trends",
    "trends": "integration_kit.metrics.trends",
    "write_report": "integration_kit.metrics.report",
}


__getattr__ = lazy_exports(__name__, _LAZY)


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
