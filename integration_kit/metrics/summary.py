"""The JSON summary of one recorded run, as notifications send it.

::

    {"event": "integration-kit.run", "run_id": 43, "exitstatus": 1, "host": ..., "git_commit": ...,
     "counts": {"passed": 310, "failed": 2, ...}, "reasons": ["failures", "new flaky tests"],
     "failures": [{"nodeid": ..., "outcome": "failed", "failure_type": "IK-KAFKA-TOPIC-NOT-READY",
                   "message": ..., "quarantined": false}],
     "new_flaky": [{"nodeid": ..., "score": 0.5, "reasons": [...]}],
     "regressions": [{"nodeid": ..., "previous": 0.2, "recent": 0.9, "ratio": 4.5}],
     "coverage": {"total": 81.3, "drops": [{"package": "(total)", "previous": 84.0, ...}]}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from integration_kit.metrics.history import FAILING, CoverageRecord, History, ResultRecord, count_outcomes

FLAKY_WINDOW = 20
TREND_WINDOW = 5


def run_summary(
    history: History,
    run_id: int,
    results: Sequence[ResultRecord],
    coverage: Sequence[CoverageRecord],
    quarantine: Mapping[str, Any],
    *,
    listed: int = 50,
) -> dict[str, Any]:
    """The summary of the run ``run_id`` (already recorded in ``history``)."""
    from integration_kit.metrics.coverage_trend import TOTAL, coverage_drops
    from integration_kit.metrics.flaky import find_flaky
    from integration_kit.metrics.notify import reasons
    from integration_kit.metrics.trends import duration_regressions

    runs = history.runs(last=FLAKY_WINDOW + 1)
    run = next(r for r in runs if r.id == run_id)
    ids = [r.id for r in runs if r.id <= run_id]
    in_run = {r.nodeid for r in results}
    window = history.results(run_ids=ids[-FLAKY_WINDOW:])
    now_flaky = {f.nodeid: f for f in find_flaky(window) if f.nodeid in in_run}
    before = {f.nodeid for f in find_flaky(r for r in window if r.run_id != run_id)}
    new_flaky = [now_flaky[n] for n in sorted(now_flaky) if n not in before]
    recent = [r for r in history.results(last_runs=4 * TREND_WINDOW) if r.nodeid in in_run]
    regressions = duration_regressions(recent, window=TREND_WINDOW)
    failures = [r for r in results if r.outcome in FAILING]
    summary: dict[str, Any] = {
        "event": "integration-kit.run",
        "run_id": run_id,
        "exitstatus": run.exitstatus,
        "host": run.host,
        "git_commit": run.git_commit,
        "shard": run.shard,
        "seed": run.seed,
        "counts": count_outcomes(results),
        "failures": [
            {
                "nodeid": r.nodeid,
                "outcome": r.outcome,
                "failure_type": r.failure_type,
                "message": r.failure_message,
                "quarantined": r.nodeid in quarantine,
            }
            for r in failures[:listed]
        ],
        "failures_not_listed": max(0, len(failures) - listed),
        "new_flaky": [{"nodeid": f.nodeid, "score": f.score, "reasons": list(f.reasons)} for f in new_flaky],
        "regressions": [r.to_dict() for r in regressions],
        "coverage": {},
    }
    if coverage:
        total = next((c.percent for c in coverage if c.package == TOTAL), None)
        earlier = history.coverage(last_runs=FLAKY_WINDOW + 1)
        previous_ids = [i for i in sorted(earlier) if i < run_id]
        drops = (
            coverage_drops(earlier[previous_ids[-1]], coverage, run_id=run_id, previous_run=previous_ids[-1])
            if previous_ids
            else []
        )
        summary["coverage"] = {
            "total": None if total is None else round(total, 3),
            "drops": [
                {
                    "package": d.package or "(total)",
                    "previous": round(d.previous, 3),
                    "current": round(d.current, 3),
                    "previous_run": d.previous_run,
                }
                for d in drops
            ],
        }
    summary["reasons"] = reasons(summary)
    return summary
