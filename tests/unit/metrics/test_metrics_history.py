"""history.py: the SQLite run history round-trips, is WAL, writes a run atomically."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from integration_kit.errors import ErrorCode, MetricsError, raises_code
from integration_kit.metrics.history import (
    DEFAULT_DB,
    CoverageRecord,
    History,
    ResultRecord,
    RunRecord,
    count_outcomes,
    git_state,
    is_source_path,
    resolve_db_path,
)

pytestmark = pytest.mark.unit


def _run(start: float = 100.0) -> RunRecord:
    return RunRecord(started_at=start, finished_at=start + 2.5, host="ci-1", git_commit="abc", workers=2)


RESULTS = [
    ResultRecord(
        nodeid="t.py::test_a",
        outcome="passed",
        setup=0.1,
        call=0.2,
        teardown=0.05,
        worker="gw0",
        markers=("unit",),
        file_hash="h1",
    ),
    ResultRecord(nodeid="t.py::test_b", outcome="failed", call=1.0, worker="gw1", markers=("e2e", "slow")),
    ResultRecord(nodeid="t.py::test_c", outcome="flaky", call=0.3, reruns=2),
]


def test_record_and_read_back(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        run_id = history.record(_run(), RESULTS)
        (run,) = history.runs()
        results = history.results(run_id=run_id)
    assert run.id == run_id and run.host == "ci-1" and run.workers == 2 and run.git_commit == "abc"
    assert run.wall_time == pytest.approx(2.5)
    assert run.counts["passed"] == 1 and run.counts["failed"] == 1 and run.counts["flaky"] == 1
    assert run.total == 3
    by_id = {r.nodeid: r for r in results}
    assert by_id["t.py::test_a"].duration == pytest.approx(0.35)
    assert by_id["t.py::test_a"].markers == ("unit",)
    assert by_id["t.py::test_a"].category == "unit"
    assert by_id["t.py::test_b"].category == "e2e"
    assert by_id["t.py::test_c"].reruns == 2 and by_id["t.py::test_c"].category == "other"
    assert by_id["t.py::test_b"].worker == "gw1"


def test_runs_and_results_windows(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        ids = [history.record(_run(100.0 + i), RESULTS[:1]) for i in range(5)]
        assert [r.id for r in history.runs(last=2)] == ids[-2:]
        assert {r.run_id for r in history.results(last_runs=3)} == set(ids[-3:])
        assert len(history.results()) == 5


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as history:
        assert history.journal_mode() == "wal"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    db.close()


V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL,
 finished_at REAL NOT NULL, git_commit TEXT, git_dirty TEXT, host TEXT NOT NULL,
 workers INTEGER NOT NULL DEFAULT 0, shard TEXT, exitstatus INTEGER,
 passed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, error INTEGER NOT NULL DEFAULT 0,
 skipped INTEGER NOT NULL DEFAULT 0, xfailed INTEGER NOT NULL DEFAULT 0, xpassed INTEGER NOT NULL DEFAULT 0,
 flaky INTEGER NOT NULL DEFAULT 0, reruns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE results (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, nodeid TEXT NOT NULL,
 outcome TEXT NOT NULL, setup REAL NOT NULL DEFAULT 0, call REAL NOT NULL DEFAULT 0,
 teardown REAL NOT NULL DEFAULT 0, reruns INTEGER NOT NULL DEFAULT 0, worker TEXT,
 markers TEXT NOT NULL DEFAULT '', file_hash TEXT, PRIMARY KEY (run_id, nodeid));
INSERT INTO runs (started_at, finished_at, host, passed) VALUES (1.0, 2.0, 'old', 1);
INSERT INTO results (run_id, nodeid, outcome) VALUES (1, 't.py::old', 'passed');
PRAGMA user_version=1;
"""


def test_a_version_1_history_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.close()
    with History(path) as history:
        (old,) = history.results()
        assert old.nodeid == "t.py::old" and old.position is None and old.failure_type is None
        assert history.runs()[0].seed is None
        new = ResultRecord(nodeid="t.py::new", outcome="failed", position=3, failure_type="IK-X")
        run_id = history.record(_run(), [new], coverage=[CoverageRecord(package="", statements=4, covered=3)])
        stored = history.results(run_id=run_id)[0]
        assert (stored.position, stored.failure_type) == (3, "IK-X")
        assert history.coverage()[run_id][0].percent == 75.0


def test_a_version_2_history_gains_the_data_seed_and_keeps_its_runs(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as history:
        history.record(_run(100.0), RESULTS)
    db = sqlite3.connect(path)  # make it a version 2 history: no data_seed column
    db.execute("ALTER TABLE runs DROP COLUMN data_seed")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    with History(path) as history:
        history.record(dataclasses.replace(_run(200.0), data_seed=42, seed="7"), RESULTS)
        runs = history.runs()
    assert [(r.data_seed, r.seed) for r in runs] == [(None, None), (42, "7")]


def test_a_failed_write_leaves_no_partial_run(tmp_path: Path) -> None:
    bad = ResultRecord(nodeid="t.py::x", outcome=None)  # type: ignore[arg-type]
    with History(tmp_path / "h.sqlite") as history:
        with raises_code(ErrorCode.METRICS_DB_UNREADABLE):
            history.record(_run(), [*RESULTS, bad])
        assert history.runs() == []
        assert history.results() == []


def test_missing_history_is_a_coded_error(tmp_path: Path) -> None:
    with raises_code(ErrorCode.METRICS_NO_HISTORY) as caught:
        History(tmp_path / "nope.sqlite", create=False)
    assert not (tmp_path / "nope.sqlite").exists()
    assert isinstance(caught[0], MetricsError)


def test_not_a_database_is_a_coded_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with raises_code(ErrorCode.METRICS_DB_UNREADABLE) as caught:
        History(path)
    assert "Delete the file" in caught[0].hint


def test_history_from_a_newer_kit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with raises_code(ErrorCode.METRICS_DB_UNREADABLE) as caught:
        History(path)
    assert "newer" in caught[0].message


def test_merge_appends_runs_with_new_ids(tmp_path: Path) -> None:
    with History(tmp_path / "a.sqlite") as a:
        a.record(_run(1.0), RESULTS)
    with History(tmp_path / "b.sqlite") as b:
        b.record(_run(2.0), RESULTS[:2])
        b.record(_run(3.0), RESULTS[:1])
    with History(tmp_path / "a.sqlite") as a:
        assert a.merge(tmp_path / "b.sqlite") == 2
        assert [r.total for r in a.runs()] == [3, 2, 1]
        assert len(a.results()) == 6


def test_merge_keeps_seed_positions_failures_and_coverage(tmp_path: Path) -> None:
    result = ResultRecord(
        nodeid="t.py::x", outcome="failed", position=4, worker="gw1", failure_type="IK-X", failure_message="m"
    )
    with History(tmp_path / "b.sqlite") as b:
        run = RunRecord(started_at=1.0, finished_at=2.0, seed="42")
        b.record(run, [result], coverage=[CoverageRecord(package="pkg", statements=10, covered=5)])
    with History(tmp_path / "a.sqlite") as a:
        a.record(_run(), RESULTS[:1])
        assert a.merge(tmp_path / "b.sqlite") == 1
        merged = a.runs()[-1]
        (copied,) = a.results(run_id=merged.id)
        assert merged.seed == "42"
        assert (copied.position, copied.worker, copied.failure_type, copied.failure_message) == (
            4,
            "gw1",
            "IK-X",
            "m",
        )
        assert a.coverage() == {merged.id: [CoverageRecord(package="pkg", statements=10, covered=5)]}


def test_resolve_db_path(tmp_path: Path) -> None:
    assert resolve_db_path(tmp_path, None) == tmp_path / DEFAULT_DB
    assert resolve_db_path(tmp_path, Path("x/h.db")) == tmp_path / "x" / "h.db"
    assert resolve_db_path(tmp_path, Path("/abs/h.db")) == Path("/abs/h.db")


def test_count_outcomes_has_every_outcome() -> None:
    counts = count_outcomes(RESULTS)
    assert counts["passed"] == 1 and counts["skipped"] == 0 and counts["error"] == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_state_tracks_commit_and_uncommitted_diff(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (None, None)

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-qm", "one")
    commit, dirty = git_state(tmp_path)
    assert commit is not None and len(commit) == 40 and dirty is None
    (tmp_path / "a.py").write_text("x = 2\n")
    commit2, dirty2 = git_state(tmp_path)
    assert commit2 == commit and dirty2 is not None
    (tmp_path / "a.py").write_text("x = 3\n")
    assert git_state(tmp_path)[1] not in (None, dirty2)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_state_hashes_untracked_source_files_but_not_run_outputs(tmp_path: Path) -> None:
    """A new, untracked test file is part of "the code": fixing it changes the code key."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("commit", "-qm", "one")
    assert git_state(tmp_path)[1] is None
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_new.py").write_text("def test_x(): assert 0\n")
    broken = git_state(tmp_path)[1]
    assert broken is not None
    (tmp_path / "tests" / "test_new.py").write_text("def test_x(): assert 1\n")
    fixed = git_state(tmp_path)[1]
    assert fixed not in (None, broken)
    # run outputs and files under hidden directories do not change the code
    (tmp_path / ".integration-kit").mkdir()
    (tmp_path / ".integration-kit" / "history.py").write_text("x")
    (tmp_path / ".coverage").write_text("data")
    (tmp_path / "report.html").write_text("<html>")
    assert git_state(tmp_path)[1] == fixed
    assert is_source_path("tests/conftest.py") and is_source_path("migrations/001.sql")
    assert not is_source_path(".venv/lib/x.py") and not is_source_path("report.html")


def test_prune_keeps_the_newest_runs(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        ids = [history.record(_run(float(i)), RESULTS) for i in range(5)]
        assert history.prune(keep=10) == 0
        assert history.prune(keep=3) == 2
        assert [r.id for r in history.runs()] == ids[2:]
        assert {r.run_id for r in history.results()} == set(ids[2:])
        newest = history.record(_run(9.0), RESULTS, keep=2)
        assert [r.id for r in history.runs()] == [ids[4], newest]
        with pytest.raises(ValueError, match="keep"):
            history.prune(keep=0)


def test_results_of_some_tests(tmp_path: Path) -> None:
    many = [ResultRecord(nodeid=f"t.py::test_{i}", outcome="passed") for i in range(1200)]
    with History(tmp_path / "h.sqlite") as history:
        history.record(_run(1.0), many)
        history.record(_run(2.0), many[:10])
        assert {r.nodeid for r in history.results(nodeids=["t.py::test_3", "nope"])} == {"t.py::test_3"}
        assert len(history.results(nodeids=["t.py::test_3"], last_runs=1)) == 1
        wanted = [f"t.py::test_{i}" for i in range(0, 1200, 2)] * 2  # more than one chunk of parameters
        found = history.results(nodeids=wanted)
        assert len(found) == 600 + 5
        assert [(r.run_id, r.nodeid) for r in found] == sorted((r.run_id, r.nodeid) for r in found)
        assert history.results(nodeids=[]) == []


def test_concurrent_writers_and_a_reader_share_the_file(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "h.sqlite"
    History(path).close()
    errors: list[BaseException] = []

    def write(start: float) -> None:
        try:
            with History(path) as history:
                for i in range(15):
                    history.record(_run(start + i), RESULTS)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(1000.0 * n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    with History(path, create=False) as reader:
        while any(t.is_alive() for t in threads):
            runs = reader.runs()
            if runs:  # never a half-written run: its results come with it
                seen = reader.results(run_ids=[run.id for run in runs])
                assert len(seen) == 3 * len(runs)
    for thread in threads:
        thread.join()
    assert not errors
    with History(path, create=False) as history:
        assert len(history.runs()) == 45 and len(history.results()) == 135
