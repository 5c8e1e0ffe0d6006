"""Run history: one SQLite file with a row per run and a row per test result.

The file is written once per run, by the process that owns the run (the pytest-xdist
controller, never a worker), in one transaction, in WAL mode so readers (the CLI, a
concurrent run) never block it::

    runs     id, started_at, finished_at, git_commit, git_dirty, host, workers, shard,
             exitstatus, passed, failed, error, skipped, xfailed, xpassed, flaky, reruns,
             seed (the --ik-shuffle seed, NULL when not shuffled),
             data_seed (the --ik-seed of test data, NULL without the seeding plugin)
    results  run_id, nodeid, outcome, setup, call, teardown, reruns, worker, markers,
             file_hash, position (order on its worker, from 0), failure_type (kit error
             code or exception type), failure_message (normalized first line)
    coverage run_id, package ('' is the total), statements, covered

``outcome`` is one of :data:`OUTCOMES`; ``flaky`` means "passed after failing and being
rerun in the same run" (pytest-rerunfailures), ``reruns`` how many reruns it took.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from integration_kit.errors import ErrorCode, MetricsError

SCHEMA_VERSION = 3
DEFAULT_DB = Path(".integration-kit") / "history.sqlite"
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "flaky")
PASSING = frozenset({"passed", "xpassed", "flaky"})
FAILING = frozenset({"failed", "error"})
#: Test categories, plus ``startup``: the rows of service and process start-ups.
CATEGORIES = ("unit", "integration", "e2e", "contract", "startup")
KEEP_RUNS = 1000
#: Untracked files (not ignored) hashed into "the code" of a git work tree, at most.
UNTRACKED_LIMIT = 2000
UNTRACKED_MAX_BYTES = 1 << 20
#: Suffixes of the untracked files that count as code (run outputs such as the history,
#: ``.coverage`` or an HTML report do not).
SOURCE_SUFFIXES = frozenset(
    {".py", ".pyi", ".pyx", ".toml", ".ini", ".cfg", ".sql", ".yaml", ".yml", ".json"}
)
_MAX_PARAMS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    git_commit TEXT,
    git_dirty TEXT,
    host TEXT NOT NULL,
    workers INTEGER NOT NULL DEFAULT 0,
    shard TEXT,
    exitstatus INTEGER,
    passed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    xfailed INTEGER NOT NULL DEFAULT 0,
    xpassed INTEGER NOT NULL DEFAULT 0,
    flaky INTEGER NOT NULL DEFAULT 0,
    reruns INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    setup REAL NOT NULL DEFAULT 0,
    call REAL NOT NULL DEFAULT 0,
    teardown REAL NOT NULL DEFAULT 0,
    reruns INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    markers TEXT NOT NULL DEFAULT '',
    file_hash TEXT,
    PRIMARY KEY (run_id, nodeid)
);
CREATE INDEX IF NOT EXISTS results_by_nodeid ON results (nodeid, run_id);
"""
# version 1 -> 2: shuffle seed, execution order, failure identity, coverage
_MIGRATE_2 = """
ALTER TABLE runs ADD COLUMN seed TEXT;
ALTER TABLE results ADD COLUMN position INTEGER;
ALTER TABLE results ADD COLUMN failure_type TEXT;
ALTER TABLE results ADD COLUMN failure_message TEXT;
CREATE TABLE IF NOT EXISTS coverage (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    statements INTEGER NOT NULL,
    covered INTEGER NOT NULL,
    PRIMARY KEY (run_id, package)
);
"""
# version 2 -> 3: the run seed of test data (integration_kit.seeding)
_MIGRATE_3 = """
ALTER TABLE runs ADD COLUMN data_seed INTEGER;
"""
_MIGRATIONS = {0: [_SCHEMA, _MIGRATE_2, _MIGRATE_3], 1: [_MIGRATE_2, _MIGRATE_3], 2: [_MIGRATE_3]}

_RUN_COLUMNS = (
    "id, started_at, finished_at, git_commit, git_dirty, host, workers, shard, exitstatus, "
    + ", ".join(OUTCOMES)
    + ", reruns, seed, data_seed"
)


@dataclass(frozen=True, kw_only=True)
class ResultRecord:
    """One test's final result in one run (setup, call and teardown merged)."""

    nodeid: str
    outcome: str
    setup: float = 0.0
    call: float = 0.0
    teardown: float = 0.0
    reruns: int = 0
    worker: str | None = None
    markers: tuple[str, ...] = ()
    file_hash: str | None = None
    #: Index of the test in the order its worker (or the run) executed it, from 0.
    position: int | None = None
    #: For failures: the kit's error code (``IK-...``) or the exception type.
    failure_type: str | None = None
    #: For failures: the first line of the error, normalized (see ``failures.normalize``).
    failure_message: str | None = None

    @property
    def duration(self) -> float:
        """Seconds spent in setup, call and teardown."""
        return self.setup + self.call + self.teardown

    @property
    def category(self) -> str:
        """``unit``, ``integration``, ``e2e``, ``contract``, ``startup`` (first marker found, in
        that order) or ``other``."""
        return next((name for name in CATEGORIES if name in self.markers), "other")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """What is known about a run besides its results."""

    started_at: float
    finished_at: float
    host: str = field(default_factory=socket.gethostname)
    git_commit: str | None = None
    git_dirty: str | None = None
    workers: int = 0
    shard: str | None = None
    exitstatus: int | None = None
    #: The ``--ik-shuffle`` seed of the run, ``None`` when it ran in collection order.
    seed: str | None = None
    #: The run seed of test data (``--ik-seed``), ``None`` without the seeding plugin.
    data_seed: int | None = None


@dataclass(frozen=True, kw_only=True)
class CoverageRecord:
    """Statement coverage of one package (``package == ""``: the whole measured code)."""

    package: str
    statements: int
    covered: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.statements if self.statements else 100.0


@dataclass(frozen=True, kw_only=True)
class StoredRun(RunRecord):
    """A run read back from the history, with its id and outcome counts."""

    id: int
    counts: dict[str, int]

    @property
    def wall_time(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, kw_only=True)
class StoredResult(ResultRecord):
    """A result read back from the history, with its run's id and code version."""

    run_id: int
    started_at: float
    git_commit: str | None = None
    git_dirty: str | None = None

    @property
    def code_key(self) -> str | None:
        """What "the same code" means for this result: the commit plus a hash of the
        uncommitted diff when git knows the tree, else the test file's content hash."""
        if self.git_commit:
            return f"git:{self.git_commit}+{self.git_dirty or 'clean'}"
        return f"file:{self.file_hash}" if self.file_hash else None


def count_outcomes(results: Iterable[ResultRecord]) -> dict[str, int]:
    """Outcome counts, with every outcome present."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    return counts


def file_hash(path: Path) -> str | None:
    """A short content hash of ``path`` (``None`` when it cannot be read)."""
    try:
        return hashlib.sha1(path.read_bytes(), usedforsecurity=False).hexdigest()[:16]
    except OSError:
        return None


def git_state(directory: Path, *, timeout: float = 5.0) -> tuple[str | None, str | None]:
    """``(HEAD commit, hash of the uncommitted changes or None when clean)``; ``(None, None)``
    outside a git work tree or without git. The changes are the diff against HEAD plus the
    untracked, not ignored source files (:func:`is_source_path`) with their content."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=directory,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.decode(errors="replace") if done.returncode == 0 else None

    commit = git("rev-parse", "--verify", "-q", "HEAD")
    if not commit:
        return None, None
    diff = git("diff", "HEAD", "--no-ext-diff", "--no-color") or ""
    untracked = git("ls-files", "--others", "--exclude-standard", "-z") or ""
    digest = hashlib.sha1(diff.encode(), usedforsecurity=False)
    top = git("rev-parse", "--show-toplevel")
    base = Path(top.strip()) if top else directory
    names = sorted(name for name in untracked.split("\0") if name and is_source_path(name))
    for name in names[:UNTRACKED_LIMIT]:
        digest.update(b"\0untracked\0" + name.encode(errors="surrogateescape") + b"\0")
        digest.update(_untracked_content(base / name))
    if len(names) > UNTRACKED_LIMIT:
        digest.update(f"\0and {len(names) - UNTRACKED_LIMIT} more".encode())
    dirty = digest.hexdigest()[:12] if diff or names else None
    return commit.strip(), dirty


def is_source_path(name: str) -> bool:
    """Whether an untracked file counts as code: a source or config file (by suffix) that is
    not under a hidden directory (``.integration-kit/``, ``.venv/``, caches)."""
    parts = Path(name).parts
    if any(part.startswith(".") for part in parts[:-1]):
        return False
    return Path(name).suffix.lower() in SOURCE_SUFFIXES


def _untracked_content(path: Path) -> bytes:
    """What of an untracked file enters the code hash: its content, or for a big file
    its size and modification time."""
    try:
        info = path.stat()
        if info.st_size > UNTRACKED_MAX_BYTES:
            return f"size={info.st_size} mtime={info.st_mtime_ns}".encode()
        return path.read_bytes()
    except OSError:
        return b"unreadable"


def resolve_db_path(rootdir: Path, configured: Path | None) -> Path:
    """The history file: ``configured`` (relative paths under ``rootdir``) or the default."""
    path = DEFAULT_DB if configured is None else configured
    return path if path.is_absolute() else rootdir / path


class History:
    """The run history in one SQLite file. A context manager; closes on exit.

    ``create=False`` refuses to make a new file (``IK-METRICS-NO-HISTORY``); a file that is
    not a history (or one from a newer kit) raises ``IK-METRICS-DB-UNREADABLE``.
    """

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise MetricsError(ErrorCode.METRICS_NO_HISTORY, path=self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise MetricsError(
                ErrorCode.METRICS_DB_UNREADABLE,
                path=self.path,
                cause=f"schema version {version} is newer than this kit's {SCHEMA_VERSION}",
            )
        if version < SCHEMA_VERSION:
            with self._transaction():
                for script in _MIGRATIONS[version]:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing ---
    def record(
        self,
        run: RunRecord,
        results: Sequence[ResultRecord],
        *,
        keep: int | None = None,
        coverage: Sequence[CoverageRecord] = (),
    ) -> int:
        """Store one run, its results and its coverage in one transaction; return the run's
        id. With ``keep``, runs older than the newest ``keep`` are deleted in the same
        transaction."""
        counts = count_outcomes(results)
        reruns = sum(result.reruns for result in results)
        try:
            with self._transaction() as db:
                cursor = db.execute(
                    "INSERT INTO runs (started_at, finished_at, git_commit, git_dirty, host, workers,"
                    " shard, exitstatus, "
                    + ", ".join(OUTCOMES)
                    + ", reruns, seed, data_seed) VALUES ("
                    + ", ".join("?" * (11 + len(OUTCOMES)))
                    + ")",
                    (
                        run.started_at,
                        run.finished_at,
                        run.git_commit,
                        run.git_dirty,
                        run.host,
                        run.workers,
                        run.shard,
                        run.exitstatus,
                        *(counts[name] for name in OUTCOMES),
                        reruns,
                        run.seed,
                        run.data_seed,
                    ),
                )
                run_id = int(cursor.lastrowid or 0)
                db.executemany(
                    "INSERT OR REPLACE INTO results (run_id, nodeid, outcome, setup, call, teardown,"
                    " reruns, worker, markers, file_hash, position, failure_type, failure_message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            r.nodeid,
                            r.outcome,
                            r.setup,
                            r.call,
                            r.teardown,
                            r.reruns,
                            r.worker,
                            ",".join(r.markers),
                            r.file_hash,
                            r.position,
                            r.failure_type,
                            r.failure_message,
                        )
                        for r in results
                    ],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO coverage (run_id, package, statements, covered)"
                    " VALUES (?, ?, ?, ?)",
                    [(run_id, c.package, c.statements, c.covered) for c in coverage],
                )
                if keep is not None:
                    self._prune(db, keep)
        except sqlite3.Error as exc:
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc
        return run_id

    def prune(self, *, keep: int = KEEP_RUNS) -> int:
        """Delete all but the newest ``keep`` runs (and their results); return how many."""
        try:
            with self._transaction() as db:
                return self._prune(db, keep)
        except sqlite3.Error as exc:
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc

    def vacuum(self) -> None:
        """Rewrite the file without the space that deleted runs left."""
        try:
            self._db.execute("VACUUM")
        except sqlite3.Error as exc:
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc

    @staticmethod
    def _prune(db: sqlite3.Connection, keep: int) -> int:
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        cutoff = db.execute("SELECT id FROM runs ORDER BY id DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
        if cutoff is None:
            return 0
        db.execute("DELETE FROM results WHERE run_id <= ?", (cutoff[0],))
        db.execute("DELETE FROM coverage WHERE run_id <= ?", (cutoff[0],))
        return int(db.execute("DELETE FROM runs WHERE id <= ?", (cutoff[0],)).rowcount)

    def merge(self, other: Path) -> int:
        """Copy every run of the history ``other`` into this one (new ids); return how many.

        Use it to combine the histories of parallel CI jobs (one per shard).
        """
        with History(other, create=False) as source:
            runs = source.runs()
            by_run: dict[int, list[ResultRecord]] = {}
            for result in source.results():
                by_run.setdefault(result.run_id, []).append(result)
            covered = source.coverage()
        for run in runs:
            self.record(
                RunRecord(
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    host=run.host,
                    git_commit=run.git_commit,
                    git_dirty=run.git_dirty,
                    workers=run.workers,
                    shard=run.shard,
                    exitstatus=run.exitstatus,
                    seed=run.seed,
                    data_seed=run.data_seed,
                ),
                by_run.get(run.id, []),
                coverage=covered.get(run.id, []),
            )
        return len(runs)

    # --- reading ---
    def _query(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise MetricsError(ErrorCode.METRICS_DB_UNREADABLE, path=self.path, cause=exc) from exc

    def runs(self, *, last: int | None = None) -> list[StoredRun]:
        """Runs in order (oldest first); only the ``last`` N when given."""
        sql = f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id DESC"
        rows = self._query(sql + (" LIMIT ?" if last is not None else ""), (last,) if last else ())
        runs = []
        for row in reversed(rows):
            (run_id, started, finished, commit, dirty, host, workers, shard, status, *rest) = row
            counts = dict(zip(OUTCOMES, (int(v) for v in rest[: len(OUTCOMES)]), strict=True))
            seed = rest[len(OUTCOMES) + 1]
            data_seed = rest[len(OUTCOMES) + 2]
            runs.append(
                StoredRun(
                    id=int(run_id),
                    started_at=float(started),
                    finished_at=float(finished),
                    git_commit=commit,
                    git_dirty=dirty,
                    host=str(host),
                    workers=int(workers),
                    shard=shard,
                    exitstatus=status,
                    seed=seed,
                    data_seed=None if data_seed is None else int(data_seed),
                    counts=counts,
                )
            )
        return runs

    def results(
        self,
        *,
        last_runs: int | None = None,
        run_id: int | None = None,
        run_ids: Sequence[int] | None = None,
        nodeids: Sequence[str] | None = None,
    ) -> list[StoredResult]:
        """Results ordered by run, then node id: of the ``last_runs`` runs, of one run, of
        the runs ``run_ids``, or all; only of the tests ``nodeids`` when given."""
        if nodeids is not None and len(nodeids) > _MAX_PARAMS:
            wanted = list(dict.fromkeys(nodeids))
            chunks = [wanted[i : i + _MAX_PARAMS] for i in range(0, len(wanted), _MAX_PARAMS)]
            found = [
                r
                for chunk in chunks
                for r in self.results(last_runs=last_runs, run_id=run_id, run_ids=run_ids, nodeids=chunk)
            ]
            return sorted(found, key=lambda r: (r.run_id, r.nodeid))
        clauses: list[str] = []
        params: list[object] = []
        if run_ids is not None:
            ids = [int(i) for i in run_ids]
            clauses.append(f"r.run_id IN ({','.join(map(str, ids))})" if ids else "0")
        elif run_id is not None:
            clauses.append("r.run_id = ?")
            params.append(run_id)
        elif last_runs is not None:
            clauses.append("r.run_id IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)")
            params.append(last_runs)
        if nodeids is not None:
            clauses.append(f"r.nodeid IN ({','.join('?' * len(nodeids))})" if nodeids else "0")
            params.extend(nodeids)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._query(
            "SELECT r.run_id, r.nodeid, r.outcome, r.setup, r.call, r.teardown, r.reruns, r.worker,"
            " r.markers, r.file_hash, u.started_at, u.git_commit, u.git_dirty, r.position,"
            " r.failure_type, r.failure_message"
            f" FROM results r JOIN runs u ON u.id = r.run_id {where} ORDER BY r.run_id, r.nodeid",
            params,
        )
        return [
            StoredResult(
                run_id=int(row[0]),
                nodeid=str(row[1]),
                outcome=str(row[2]),
                setup=float(row[3]),
                call=float(row[4]),
                teardown=float(row[5]),
                reruns=int(row[6]),
                worker=row[7],
                markers=tuple(m for m in str(row[8]).split(",") if m),
                file_hash=row[9],
                started_at=float(row[10]),
                git_commit=row[11],
                git_dirty=row[12],
                position=row[13],
                failure_type=row[14],
                failure_message=row[15],
            )
            for row in rows
        ]

    def coverage(self, *, last_runs: int | None = None) -> dict[int, list[CoverageRecord]]:
        """Coverage per run id (runs without coverage are absent), of the ``last_runs`` runs."""
        sql = "SELECT run_id, package, statements, covered FROM coverage"
        params: tuple[object, ...] = ()
        if last_runs is not None:
            sql += " WHERE run_id IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?)"
            params = (last_runs,)
        found: dict[int, list[CoverageRecord]] = {}
        for run_id, package, statements, covered in self._query(sql + " ORDER BY run_id, package", params):
            found.setdefault(int(run_id), []).append(
                CoverageRecord(package=str(package), statements=int(statements), covered=int(covered))
            )
        return found

    def journal_mode(self) -> str:
        """SQLite's journal mode of this file (``wal``)."""
        return str(self._query("PRAGMA journal_mode")[0][0])
