"""Builders of synthetic history rows for the metrics unit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from integration_kit.metrics.history import StoredResult


@pytest.fixture
def stored() -> Callable[..., StoredResult]:
    """``stored(run_id, nodeid, outcome, duration=..., commit=..., ...)`` -> StoredResult."""

    def build(
        run_id: int,
        nodeid: str,
        outcome: str = "passed",
        *,
        duration: float = 0.1,
        commit: str | None = "c0ffee",
        dirty: str | None = None,
        file_hash: str | None = "f1",
        markers: tuple[str, ...] = (),
        **extra: Any,
    ) -> StoredResult:
        return StoredResult(
            run_id=run_id,
            nodeid=nodeid,
            outcome=outcome,
            call=duration,
            started_at=1000.0 + run_id,
            git_commit=commit,
            git_dirty=dirty,
            file_hash=file_hash,
            markers=markers,
            **extra,
        )

    return build


@pytest.fixture
def history_file(tmp_path: Any) -> Any:
    """A history of 12 runs: steady tests, one that flips on the same commit, one that
    slows down in the last 5 runs, and a node id with HTML in it."""
    from integration_kit.metrics.history import History, ResultRecord, RunRecord

    path = tmp_path / "history.sqlite"
    with History(path) as history:
        for run in range(12):
            results = [
                ResultRecord(
                    nodeid="tests/test_api.py::test_steady",
                    outcome="passed",
                    call=0.2,
                    markers=("unit",),
                    file_hash="h",
                ),
                ResultRecord(
                    nodeid="tests/test_api.py::test_flips",
                    outcome="failed" if run % 3 == 1 else "passed",
                    call=0.1,
                    markers=("integration",),
                    file_hash="h",
                ),
                ResultRecord(
                    nodeid="tests/test_e2e.py::test_slower",
                    outcome="passed",
                    call=1.0 if run < 7 else 2.5,
                    markers=("e2e",),
                    file_hash="h",
                ),
                ResultRecord(
                    nodeid="tests/test_api.py::test_html[<b>&]", outcome="passed", call=0.01, file_hash="h"
                ),
            ]
            history.record(
                RunRecord(
                    started_at=1_700_000_000.0 + run * 600,
                    finished_at=1_700_000_004.0 + run * 600,
                    host="ci",
                    git_commit="f00d",
                    workers=2,
                ),
                results,
            )
    return path
