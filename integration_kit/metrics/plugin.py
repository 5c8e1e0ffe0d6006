"""pytest plugin of the metrics layer: records each run to the history; ``--ik-shard``.

Options (group ``integration_kit``)::

    --ik-metrics / --no-ik-metrics   record this run (default: the ``metrics`` setting, on)
    --ik-metrics-db PATH             the history file (default: the ``metrics_db`` setting,
                                     else .integration-kit/history.sqlite under the rootdir)
    --ik-shard I/K                   run only shard I of K, balanced by recorded durations
                                     (default: the ``shard`` setting, all tests)
    --ik-shard-by test|class|module  what stays together in one shard (``shard_by``: test)
    --ik-shard-window N              runs whose median durations weigh the tests
                                     (``shard_window``: 10)

Each option is the command-line form of a setting of :class:`~integration_kit.config.Settings`
(``INTEGRATION_KIT_SHARD=2/4`` in a CI job's environment works as ``--ik-shard=2/4``).

Value options take their value after ``=`` (``--ik-metrics-db=PATH``); a separate value is
refused (``IK-METRICS-DETACHED-VALUE``), since pytest reads it as a test path while it looks
for the rootdir and configuration, before the plugin sees the option.

Quarantined tests (``quarantine_file``) run as usual; a failure is reported as ``xfailed``
with the quarantine's reason (the history keeps the real outcome). At the end of a run
with failures, new flaky tests, duration regressions or a coverage drop, a summary goes to
each ``notify`` target. With pytest-cov active, the run's coverage is recorded too.

Under pytest-xdist only the controller records: the workers' reports reach it through
``pytest_runtest_logreport`` (with the worker id and the test's markers attached by the
worker), and it writes the whole run in one transaction at the end. Nothing heavy is
imported until a hook needs it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from integration_kit.metrics.flaky import FlakyTest
    from integration_kit.metrics.history import CoverageRecord, History, ResultRecord
    from integration_kit.metrics.quarantine import QuarantinedTest
    from integration_kit.metrics.sharding import ShardSpec

_SETTINGS: pytest.StashKey[_RunOptions] = pytest.StashKey()
_PLANS: pytest.StashKey[list[dict[str, Any]]] = pytest.StashKey()
_MARKERS: pytest.StashKey[list[str]] = pytest.StashKey()
_IGNORED_MARKERS = frozenset({"parametrize", "usefixtures", "filterwarnings"})
RECORDER_NAME = "integration_kit.metrics.recorder"
FAILURE_ANALYSIS_LIMIT = 200


VALUE_OPTIONS = ("--ik-metrics-db", "--ik-shard", "--ik-shard-by", "--ik-shard-window")


class _RunOptions:
    """What this run of the metrics layer uses, resolved from the kit's one ``Settings``
    (``--ik-*`` options > environment > pyproject > defaults) plus the loaded quarantine."""

    __slots__ = (
        "db",
        "enabled",
        "notify",
        "quarantine",
        "quarantine_path",
        "shard",
        "shard_by",
        "shard_window",
    )

    def __init__(
        self,
        *,
        enabled: bool,
        db: Path,
        shard: ShardSpec | None,
        shard_by: str,
        shard_window: int,
        notify: tuple[str, ...] = (),
        quarantine_path: Path | None = None,
        quarantine: dict[str, QuarantinedTest] | None = None,
    ) -> None:
        self.enabled = enabled
        self.db = db
        self.shard = shard
        self.shard_by = shard_by
        self.shard_window = shard_window
        self.notify = notify
        self.quarantine_path = quarantine_path
        self.quarantine = quarantine or {}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-metrics",
        dest="ik_metrics",
        action="store_true",
        default=None,
        help="record this run to the run history (default: on, or INTEGRATION_KIT_METRICS)",
    )
    group.addoption(
        "--no-ik-metrics",
        dest="ik_metrics",
        action="store_false",
        help="do not record this run to the run history",
    )
    group.addoption(
        "--ik-metrics-db",
        dest="ik_metrics_db",
        default=None,
        metavar="PATH",
        help="run history file, as --ik-metrics-db=PATH (default: .integration-kit/history.sqlite "
        "under the rootdir)",
    )
    group.addoption(
        "--ik-shard",
        dest="ik_shard",
        default=None,
        metavar="I/K",
        help="run only shard I of K, as --ik-shard=I/K, balanced by the durations in the run history",
    )
    group.addoption(
        "--ik-shard-by",
        dest="ik_shard_by",
        default=None,
        choices=("test", "class", "module"),
        help="keep each test, class or module in one shard (default: the shard_by setting, else test)",
    )
    group.addoption(
        "--ik-shard-window",
        dest="ik_shard_window",
        default=None,
        type=_positive_int,
        metavar="N",
        help="weigh tests by their median duration over the last N runs (default: the shard_window "
        "setting, else 10)",
    )


def reject_detached_values(
    config: pytest.Config, options: tuple[str, ...], optional: tuple[str, ...] = ()
) -> None:
    """``pytest.UsageError`` (``IK-METRICS-DETACHED-VALUE``) when one of ``options`` was given
    its value as the next argument; ``optional`` options (``nargs="?"``) only when the next
    argument does not look like an option."""
    from integration_kit.errors import ErrorCode, MetricsError

    args = [str(a) for a in config.invocation_params.args]
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        if arg in options or (arg in optional and following is not None and not following.startswith("-")):
            error = MetricsError(ErrorCode.METRICS_DETACHED_VALUE, option=arg, value=following)
            raise pytest.UsageError(str(error))


def pytest_configure(config: pytest.Config) -> None:
    from integration_kit.config import Settings, load_settings
    from integration_kit.errors import ConfigError, IntegrationKitError
    from integration_kit.metrics.history import resolve_db_path
    from integration_kit.metrics.quarantine import load_quarantine, resolve_quarantine_path
    from integration_kit.metrics.sharding import parse_shard

    reject_detached_values(config, VALUE_OPTIONS)
    option = config.option
    cli = {
        "metrics": option.ik_metrics,
        "metrics_db": option.ik_metrics_db,
        "shard_by": option.ik_shard_by,
        "shard_window": option.ik_shard_window,
    }
    settings = Settings().replace(**{k: v for k, v in cli.items() if v is not None})
    try:
        settings = load_settings(cli=cli, rootdir=config.rootpath)
    except ConfigError as exc:
        if exc.context.get("key") in {*cli, "shard", "notify", "quarantine_file"}:
            raise pytest.UsageError(str(exc)) from exc
        # another layer's setting is bad and that layer reports it; keep the options above
    enabled, db = settings.metrics, settings.metrics_db
    shard_text = option.ik_shard if option.ik_shard is not None else settings.shard
    try:
        shard = parse_shard(shard_text) if shard_text is not None else None
        quarantine_path = resolve_quarantine_path(config.rootpath, settings.quarantine_file)
        quarantine = load_quarantine(quarantine_path)
    except IntegrationKitError as exc:
        raise pytest.UsageError(str(exc)) from exc
    config.stash[_SETTINGS] = _RunOptions(
        enabled=enabled,
        db=resolve_db_path(config.rootpath, db),
        shard=shard,
        shard_by=settings.shard_by,
        shard_window=settings.shard_window,
        notify=settings.notify,
        quarantine_path=quarantine_path,
        quarantine=quarantine,
    )
    is_worker = hasattr(config, "workerinput")
    if enabled and not is_worker:
        config.pluginmanager.register(_Recorder(config), RECORDER_NAME)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the test's marker names to its reports (they travel to the xdist controller);
    turn a quarantined test's failure into an xfail that names the quarantine."""
    report = yield
    settings = item.config.stash.get(_SETTINGS, None)
    quarantined = settings.quarantine.get(item.nodeid) if settings is not None else None
    if quarantined is not None and report.failed:
        report.ik_quarantined = report.when
        report.outcome = "skipped"
        report.wasxfail = f"quarantined: {quarantined.reason}"
    if settings is not None and settings.enabled:
        markers = item.stash.get(_MARKERS, None)
        if markers is None:
            names = {mark.name for mark in item.iter_markers()}
            markers = item.stash[_MARKERS] = sorted(names - _IGNORED_MARKERS)
        report.ik_markers = markers
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--ik-shard``: deselect the tests of the other shards (after -m/-k selection)."""
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or settings.shard is None:
        return
    from integration_kit.metrics.sharding import plan_shards

    spec = settings.shard
    durations = _recorded_durations(config, settings, spec.count)
    plan = plan_shards([item.nodeid for item in items], durations, spec.count, by=settings.shard_by)
    keep = set(plan.shard(spec.index).nodeids)
    selected = [item for item in items if item.nodeid in keep]
    deselected = [item for item in items if item.nodeid not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    shard = plan.shard(spec.index)
    summary = {
        "shard": str(spec),
        "by": plan.by,
        "fingerprint": plan.fingerprint,
        "tests": len(shard.nodeids),
        "total": sum(len(s.nodeids) for s in plan.shards),
        "expected": shard.expected,
        "known": shard.known,
        "all": [s.expected for s in plan.shards],
    }
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller prints it
        workeroutput["ik_shard_plan"] = summary
    else:
        config.stash[_PLANS] = [summary]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: keep the shard plan each worker computed."""
    summary = getattr(node, "workeroutput", {}).get("ik_shard_plan")
    if summary is not None:
        node.config.stash.setdefault(_PLANS, []).append(summary)


def _recorded_durations(config: pytest.Config, settings: _RunOptions, count: int) -> dict[str, float]:
    if not settings.db.is_file():
        return {}
    from integration_kit.errors import IntegrationKitError
    from integration_kit.metrics.history import History, git_state
    from integration_kit.metrics.sharding import planning_durations

    commit, dirty = git_state(config.rootpath)
    try:
        with History(settings.db, create=False) as history:
            return planning_durations(
                history, count=count, window=settings.shard_window, git_commit=commit, git_dirty=dirty
            )
    except IntegrationKitError as exc:
        raise pytest.UsageError(str(exc)) from exc


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    plans = config.stash.get(_PLANS, None)
    if not plans:
        return
    fingerprints = sorted({plan["fingerprint"] for plan in plans})
    plan = plans[0]
    times = " ".join(f"{t:.2f}s" for t in plan["all"])
    terminalreporter.write_line(
        f"integration-kit shard {plan['shard']} (by {plan['by']}, plan {plan['fingerprint']}): "
        f"{plan['tests']} of {plan['total']} tests, expected {plan['expected']:.2f}s "
        f"({plan['known']} with history); all shards: {times}"
    )
    if len(fingerprints) > 1:
        terminalreporter.write_line(
            f"integration-kit shard: workers computed different plans ({', '.join(fingerprints)}); "
            "the history changed during collection",
            red=True,
        )


class _Phases:
    __slots__ = (
        "call",
        "failure",
        "markers",
        "outcome",
        "position",
        "quarantined",
        "reruns",
        "setup",
        "teardown",
        "worker",
    )

    def __init__(self, position: int) -> None:
        self.setup = self.call = self.teardown = 0.0
        self.outcome: str | None = None
        self.reruns = 0
        self.worker: str | None = None
        self.markers: list[str] | None = None
        self.position = position
        self.failure: tuple[str, str] | None = None
        self.quarantined = False


def _data_seed(config: pytest.Config) -> int | None:
    """The seeding plugin's run seed of test data (None when it is not loaded)."""
    plugin = config.pluginmanager.get_plugin("integration_kit.seeding.plugin")
    return plugin.run_seed(config) if plugin is not None else None


class _Recorder:
    """Collects the run's reports (in the controller) and writes them when the session ends."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started_at = time.time()
        self.tests: dict[str, _Phases] = {}
        self.run_id: int | None = None
        self.problem: str | None = None
        self.flaky: list[FlakyTest] = []
        self.positions: dict[str | None, int] = {}
        self.notes: list[str] = []
        self.startups: list[tuple[str | None, dict[str, Any]]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        phases = self.tests.get(report.nodeid)
        if phases is None:
            worker = getattr(report, "worker_id", None)
            position = self.positions.get(worker, 0)
            self.positions[worker] = position + 1
            phases = self.tests[report.nodeid] = _Phases(position)
        when, outcome = report.when, report.outcome
        if outcome == "rerun":
            phases.reruns += 1
            phases.setup = phases.call = phases.teardown = 0.0
            phases.outcome = None
            phases.failure = None
            return
        quarantined_in = getattr(report, "ik_quarantined", None)
        if quarantined_in is not None:
            phases.quarantined = True
            outcome = "failed"
        if outcome == "failed" and (phases.failure is None or when == "call"):
            from integration_kit.metrics.failures import failure_of

            phases.failure = failure_of(report) or phases.failure
        if when == "setup":
            # Services and processes started during this setup are rows of their own.
            startup = getattr(report, "ik_startup", None) or []
            phases.setup = max(report.duration - sum(float(row["seconds"]) for row in startup), 0.0)
            self.startups.extend((getattr(report, "worker_id", None), row) for row in startup)
            if outcome == "failed":
                phases.outcome = "error"
            elif outcome == "skipped":
                phases.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif when == "call":
            phases.call = report.duration
            if outcome == "passed":
                phases.outcome = "xpassed" if hasattr(report, "wasxfail") else "passed"
            elif outcome == "failed":
                phases.outcome = "failed"
            else:
                phases.outcome = "xfailed" if hasattr(report, "wasxfail") else "skipped"
        elif when == "teardown":
            phases.teardown = report.duration
            if outcome == "failed" and phases.outcome != "failed":
                phases.outcome = "error"
        if phases.worker is None:
            phases.worker = getattr(report, "worker_id", None)
        if phases.markers is None:
            phases.markers = getattr(report, "ik_markers", None)

    def _results(self) -> list[ResultRecord]:
        from integration_kit.metrics.history import ResultRecord, file_hash

        root = self.config.rootpath
        hashes: dict[str, str | None] = {}
        results = []
        for nodeid, phases in self.tests.items():
            path = nodeid.split("::", 1)[0]
            if path not in hashes:
                hashes[path] = file_hash(root / path)
            outcome = phases.outcome or "passed"
            if outcome == "passed" and phases.reruns:
                outcome = "flaky"
            failure = phases.failure if outcome in ("failed", "error") else None
            results.append(
                ResultRecord(
                    nodeid=nodeid,
                    outcome=outcome,
                    setup=phases.setup,
                    call=phases.call,
                    teardown=phases.teardown,
                    reruns=phases.reruns,
                    worker=phases.worker,
                    markers=tuple(phases.markers or ()),
                    file_hash=hashes[path],
                    position=phases.position,
                    failure_type=failure[0] if failure else None,
                    failure_message=failure[1] if failure else None,
                )
            )
        return results + self._startup_results()

    def _startup_results(self) -> list[ResultRecord]:
        """Start-ups as rows: node id ``integration-kit::startup::<key>``, the time as setup,
        markers ``startup``, the kind and ``backend:<name>``."""
        from integration_kit.metrics.history import ResultRecord
        from integration_kit.run_summary import Startup

        rows: dict[str, ResultRecord] = {}
        for worker, data in self.startups:
            startup = Startup.from_json(data)
            if not startup.started_here:
                continue  # waited for another xdist worker's start: counted there
            nodeid = startup.nodeid(worker)
            rows[nodeid] = ResultRecord(
                nodeid=nodeid,
                outcome="passed",
                setup=startup.seconds,
                call=0.0,
                teardown=0.0,
                reruns=0,
                worker=worker,
                markers=("startup", startup.kind, f"backend:{startup.backend}"),
                file_hash=None,
            )
        return list(rows.values())

    def _workers(self) -> int:
        seen = {p.worker for p in self.tests.values() if p.worker}
        option = self.config.option
        configured = getattr(option, "numprocesses", None)
        if getattr(option, "dist", "no") != "no" and isinstance(configured, int):
            return max(configured, len(seen))
        return len(seen)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from integration_kit.errors import IntegrationKitError
        from integration_kit.metrics.history import KEEP_RUNS, History, RunRecord, git_state

        if self.config.option.collectonly or not self.tests:
            return
        from integration_kit.suite.order import recorded_seed

        settings = self.config.stash[_SETTINGS]
        commit, dirty = git_state(self.config.rootpath)
        run = RunRecord(
            started_at=self.started_at,
            finished_at=time.time(),
            git_commit=commit,
            git_dirty=dirty,
            workers=self._workers(),
            shard=str(settings.shard) if settings.shard else None,
            exitstatus=int(exitstatus),
            seed=recorded_seed(self.config),
            data_seed=_data_seed(self.config),
        )
        results = self._results()
        coverage = self._coverage()
        try:
            with History(settings.db) as history:
                self.run_id = history.record(run, results, keep=KEEP_RUNS, coverage=coverage)
                self.flaky = self._known_flaky(history, results)
                if settings.notify:
                    from integration_kit.metrics.summary import run_summary

                    summary = run_summary(history, self.run_id, results, coverage, settings.quarantine)
        except IntegrationKitError as exc:
            self.problem = str(exc)
            return
        if settings.notify:
            from integration_kit.metrics.notify import reasons, send

            if reasons(summary):
                self.notes.extend(d.line() for d in send(settings.notify, summary))

    def _coverage(self) -> list[CoverageRecord]:
        if self.config.pluginmanager.getplugin("_cov") is None:  # pytest-cov not loaded
            return []
        from integration_kit.metrics.coverage_trend import active_coverage, measure

        cov = active_coverage(self.config)
        if cov is None:
            return []
        try:
            return measure(cov, self.config.rootpath)
        except Exception as exc:  # coverage's own errors; the run is still recorded
            self.notes.append(f"integration-kit metrics: coverage not recorded: {type(exc).__name__}: {exc}")
            return []

    @staticmethod
    def _known_flaky(history: History, results: list[ResultRecord]) -> list[FlakyTest]:
        """Of the tests that failed (or passed on rerun) in this run, those the recent
        history shows to be flaky."""
        suspects = [r.nodeid for r in results if r.outcome in ("failed", "error", "flaky")]
        if not suspects or len(suspects) > FAILURE_ANALYSIS_LIMIT:
            return []
        from integration_kit.metrics.flaky import DEFAULT_WINDOW, find_flaky

        return find_flaky(history.results(last_runs=DEFAULT_WINDOW), only=suspects)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        settings = self.config.stash[_SETTINGS]
        if self.problem is not None:
            terminalreporter.write_line(
                f"integration-kit metrics: run not recorded: {self.problem}", red=True
            )
        elif self.run_id is not None and self.config.option.verbose >= 0:
            try:
                where = settings.db.relative_to(self.config.rootpath)
            except ValueError:
                where = settings.db
            terminalreporter.write_line(
                f"integration-kit metrics: run #{self.run_id} recorded ({len(self.tests)} results) in {where}"
            )
        for test in self.flaky[:10]:
            terminalreporter.write_line(
                f"integration-kit metrics: known flaky (flip rate {test.score:.2f}): {test.nodeid}: "
                + "; ".join(test.reasons),
                yellow=True,
            )
        if len(self.flaky) > 10:
            terminalreporter.write_line(
                f"integration-kit metrics: {len(self.flaky) - 10} more flaky tests: "
                "see `integration-kit metrics flaky`"
            )
        for nodeid, phases in self.tests.items():
            entry = settings.quarantine.get(nodeid)
            if phases.quarantined and entry is not None:
                terminalreporter.write_line(
                    f"integration-kit quarantine: {nodeid} failed, not failing the run "
                    f"(quarantined {entry.age_text()} ago: {entry.reason})",
                    yellow=True,
                )
        for note in self.notes:
            terminalreporter.write_line(note, red="FAILED" in note or "not recorded" in note)
