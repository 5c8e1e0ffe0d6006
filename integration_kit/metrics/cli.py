"""``integration-kit metrics ...``: read the run history from the command line.

The lead adds the group to the main command with ``cli.add_command(metrics)``; it also
runs alone: ``python -m integration_kit.metrics.cli flaky``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from integration_kit.errors import IntegrationKitError

_ROOT_MARKERS = ("pyproject.toml", "pytest.ini", "tox.ini", "setup.cfg")


def project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` with a pytest/project config file."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if any((directory / name).is_file() for name in _ROOT_MARKERS):
            return directory
    return here


def history_path(db: Path | None) -> Path:
    """``--db``, else the ``metrics_db`` setting, else the default, under the project root."""
    from integration_kit.config import load_settings
    from integration_kit.metrics.history import resolve_db_path

    if db is not None:
        return db
    root = project_root()
    return resolve_db_path(root, load_settings(rootdir=root).metrics_db)


def _open(db: Path | None) -> Any:
    from integration_kit.metrics.history import History

    return History(history_path(db), create=False)


def _fail(exc: IntegrationKitError) -> NoReturn:
    raise click.ClickException(str(exc)) from exc


def _emit_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=max(100, Console().width))


_db_option = click.option(
    "--db",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="history file (default: metrics_db setting, else .integration-kit/history.sqlite)",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")


@click.group()
def metrics() -> None:
    """Run history: flaky tests, trends, shards, HTML report."""


@metrics.command()
@_db_option
@click.option(
    "--window",
    "-w",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="look at the last N runs",
)
@_json_option
def flaky(db: Path | None, window: int, as_json: bool) -> None:
    """Tests that both passed and failed on the same code, or passed on rerun."""
    from integration_kit.metrics.flaky import flaky_tests

    try:
        with _open(db) as history:
            found = flaky_tests(history, window=window)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json({"window": window, "flaky": [f.to_dict() for f in found]})
        return
    if not found:
        click.echo(f"No flaky tests in the last {window} runs.")
        return
    from rich.table import Table

    table = Table(title=f"Flaky tests (last {window} runs)")
    table.add_column("test", overflow="fold")
    table.add_column("flip rate", justify="right")
    table.add_column("pass/fail", justify="right")
    table.add_column("pattern")
    table.add_column("evidence", overflow="fold")
    for test in found:
        table.add_row(
            test.nodeid,
            f"{test.score:.2f}",
            f"{test.passed}/{test.failed}",
            test.pattern,
            "; ".join(test.reasons),
        )
    _console().print(table)


@metrics.command()
@_db_option
@click.option(
    "--window",
    "-w",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="compare the median of the last N runs with the N before",
)
@click.option(
    "--threshold",
    default=1.5,
    show_default=True,
    type=click.FloatRange(min=1.0),
    help="report tests at least this many times slower",
)
@click.option(
    "--min-delta",
    default=0.05,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="ignore slowdowns smaller than this many seconds",
)
@click.option(
    "--limit", default=10, show_default=True, type=click.IntRange(min=1), help="slowest tests shown"
)
@_json_option
def trends(
    db: Path | None, window: int, threshold: float, min_delta: float, limit: int, as_json: bool
) -> None:
    """Duration regressions, slowest tests and per-category totals."""
    from integration_kit.metrics.trends import trends as compute

    try:
        with _open(db) as history:
            found = compute(history, window=window, threshold=threshold, min_delta=min_delta, limit=limit)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json(found.to_dict())
        return
    from rich.table import Table

    console = _console()
    regressions = Table(
        title=f"Duration regressions (last {window} runs vs the {window} before, x{threshold})"
    )
    for name, justify in (("test", "left"), ("before", "right"), ("now", "right"), ("ratio", "right")):
        regressions.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for r in found.regressions:
        regressions.add_row(r.nodeid, f"{r.previous:.3f}s", f"{r.recent:.3f}s", f"x{r.ratio:.2f}")
    if found.regressions:
        console.print(regressions)
    else:
        console.print(f"No duration regressions (needs {2 * window} passing runs of a test).")
    slowest = Table(title=f"Slowest tests (median of the last {window} runs)")
    for name, justify in (("test", "left"), ("median", "right"), ("last", "right"), ("category", "left")):
        slowest.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in found.slowest:
        slowest.add_row(s.nodeid, f"{s.median:.3f}s", f"{s.last:.3f}s", s.category)
    console.print(slowest)
    categories = Table(title="Latest run by category")
    for name, justify in (("category", "left"), ("tests", "right"), ("failed", "right"), ("time", "right")):
        categories.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in found.categories:
        categories.add_row(c.category, str(c.tests), str(c.failed), f"{c.duration:.2f}s")
    console.print(categories)


def _collect(pytest_args: tuple[str, ...]) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "integration_kit.metrics.plugin",
        "--no-ik-metrics",
        *pytest_args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 5):
        raise click.ClickException(
            f"{shlex.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return [line for line in done.stdout.splitlines() if "::" in line and not line.startswith(" ")]


@metrics.command()
@click.argument("count", type=click.IntRange(min=1))
@_db_option
@click.option(
    "--window",
    "-w",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="weigh tests by their median duration over the last N runs",
)
@click.option(
    "--by",
    type=click.Choice(["test", "class", "module"]),
    default="test",
    show_default=True,
    help="keep each test, class or module in one shard",
)
@click.option(
    "--collect",
    is_flag=True,
    help="plan the tests pytest collects now (extra arguments go to pytest) instead of "
    "the tests in the history",
)
@click.option("--tests", "show_tests", is_flag=True, help="list each shard's tests")
@_json_option
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def shards(
    count: int,
    db: Path | None,
    window: int,
    by: str,
    collect: bool,
    show_tests: bool,
    as_json: bool,
    pytest_args: tuple[str, ...],
) -> None:
    """Print the plan that `pytest --ik-shard=i/COUNT` follows."""
    from integration_kit.metrics.history import git_state
    from integration_kit.metrics.sharding import plan_shards, planning_durations

    commit, dirty = git_state(project_root())
    try:
        with _open(db) as history:
            durations = planning_durations(
                history, count=count, window=window, git_commit=commit, git_dirty=dirty
            )
            known = sorted({r.nodeid for r in history.results(last_runs=window)})
    except IntegrationKitError as exc:
        _fail(exc)
    nodeids = _collect(pytest_args) if collect else known
    plan = plan_shards(nodeids, durations, count, by=by)
    if as_json:
        _emit_json(plan.to_dict())
        return
    from rich.table import Table

    console = _console()
    console.print(
        f"{count} shards by {by}: {len(nodeids)} tests, plan {plan.fingerprint}, "
        f"imbalance x{plan.imbalance:.3f} (tests without history weigh {plan.fallback:.3f}s)"
    )
    table = Table()
    table.add_column("shard", justify="right")
    table.add_column("tests", justify="right")
    table.add_column("with history", justify="right")
    table.add_column("expected", justify="right")
    if show_tests:
        table.add_column("tests", overflow="fold")
    for shard in plan.shards:
        row = [f"{shard.index}/{count}", str(len(shard.nodeids)), str(shard.known), f"{shard.expected:.2f}s"]
        if show_tests:
            row.append("\n".join(shard.nodeids))
        table.add_row(*row)
    console.print(table)


@metrics.command()
@_db_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write",
)
@click.option("--window", "-w", default=50, show_default=True, type=click.IntRange(min=1), help="runs shown")
@click.option(
    "--flaky-window",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="runs searched for flaky tests",
)
@click.option("--title", default="Test suite health", show_default=True)
def report(db: Path | None, output: Path, window: int, flaky_window: int, title: str) -> None:
    """Write a self-contained HTML report (inline CSS and SVG charts)."""
    from integration_kit.metrics.quarantine import load_quarantine
    from integration_kit.metrics.report import write_report

    try:
        held = load_quarantine(_quarantine_path(None))
        with _open(db) as history:
            write_report(
                history, output, window=window, flaky_window=flaky_window, title=title, quarantine=held
            )
    except IntegrationKitError as exc:
        _fail(exc)
    click.echo(f"wrote {output}")


@metrics.command()
@_db_option
@click.option("--last", "-n", default=20, show_default=True, type=click.IntRange(min=1))
@_json_option
def runs(db: Path | None, last: int, as_json: bool) -> None:
    """The recorded runs, newest last."""
    try:
        with _open(db) as history:
            found = history.runs(last=last)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json(
            [
                {
                    "id": r.id,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                    "git_commit": r.git_commit,
                    "git_dirty": r.git_dirty,
                    "host": r.host,
                    "workers": r.workers,
                    "shard": r.shard,
                    "exitstatus": r.exitstatus,
                    "counts": r.counts,
                }
                for r in found
            ]
        )
        return
    from rich.table import Table

    table = Table(title="Runs")
    for name in ("run", "commit", "workers", "shard", "time", "passed", "failed", "skipped", "flaky"):
        table.add_column(name, justify="left" if name in ("commit", "shard") else "right")
    for r in found:
        table.add_row(
            f"#{r.id}",
            (r.git_commit or "-")[:10] + ("*" if r.git_dirty else ""),
            str(r.workers),
            r.shard or "-",
            f"{r.wall_time:.1f}s",
            str(r.counts["passed"]),
            str(r.counts["failed"] + r.counts["error"]),
            str(r.counts["skipped"]),
            str(r.counts["flaky"]),
        )
    _console().print(table)


@metrics.command()
@_db_option
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def merge(db: Path | None, sources: tuple[Path, ...]) -> None:
    """Append the runs of other history files (e.g. one per CI shard) to this one."""
    from integration_kit.metrics.history import History

    try:
        with History(history_path(db)) as history:
            for source in sources:
                copied = history.merge(source)
                click.echo(f"merged {copied} runs from {source}")
    except IntegrationKitError as exc:
        _fail(exc)


@metrics.command()
@_db_option
@click.option("--keep", default=1000, show_default=True, type=click.IntRange(min=1), help="runs to keep")
@click.option("--vacuum", is_flag=True, help="give the freed space back to the file system")
def prune(db: Path | None, keep: int, vacuum: bool) -> None:
    """Delete all but the newest KEEP runs (each run also prunes to 1000 by itself)."""
    try:
        with _open(db) as history:
            deleted = history.prune(keep=keep)
            if vacuum:
                history.vacuum()
    except IntegrationKitError as exc:
        _fail(exc)
    click.echo(f"deleted {deleted} runs, kept the newest {keep}")


@metrics.command()
@_db_option
@click.option("--window", "-w", default=20, show_default=True, type=click.IntRange(min=1), help="runs shown")
@click.option(
    "--threshold",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="flag drops of more than this many percentage points",
)
@_json_option
def coverage(db: Path | None, window: int, threshold: float, as_json: bool) -> None:
    """Coverage per run (recorded when pytest-cov measured it) and the latest drops.
    Exits 1 when the latest run dropped more than THRESHOLD points."""
    from integration_kit.metrics.coverage_trend import coverage_trend

    try:
        with _open(db) as history:
            trend = coverage_trend(history, window=window, threshold=threshold)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json(trend.to_dict())
    elif not trend.points:
        click.echo(f"No coverage recorded in the last {window} runs (run pytest with --cov=...).")
    else:
        from rich.table import Table

        console = _console()
        runs = Table(title=f"Total coverage (last {len(trend.points)} runs with coverage)")
        for name in ("run", "coverage", "change", "statements"):
            runs.add_column(name, justify="right")
        previous: float | None = None
        for point in trend.points:
            change = "" if previous is None else f"{point.percent - previous:+.2f}"
            runs.add_row(f"#{point.run_id}", f"{point.percent:.2f}%", change, str(point.statements))
            previous = point.percent
        console.print(runs)
        packages = Table(title="Packages in the latest run")
        for name, justify in (("package", "left"), ("coverage", "right"), ("change", "right")):
            packages.add_column(name, justify=justify)  # type: ignore[arg-type]
        for record in trend.packages:
            if record.package:
                before = trend.previous_packages.get(record.package)
                change = "" if before is None else f"{record.percent - before:+.2f}"
                packages.add_row(record.package, f"{record.percent:.2f}%", change)
        console.print(packages)
        for drop in trend.drops:
            console.print(
                f"[red]coverage drop[/red] {drop.package or '(total)'}: {drop.previous:.2f}% in run "
                f"#{drop.previous_run} -> {drop.current:.2f}% in run #{drop.run_id} ({drop.delta:+.2f})"
            )
    if trend.drops:
        sys.exit(1)


@metrics.command()
@_db_option
@click.option(
    "--window", "-w", default=50, show_default=True, type=click.IntRange(min=1), help="runs searched"
)
@click.option("--limit", default=30, show_default=True, type=click.IntRange(min=1), help="groups shown")
@_json_option
def failures(db: Path | None, window: int, limit: int, as_json: bool) -> None:
    """Failures grouped by kit error code or exception type and normalized message;
    infrastructure failures (service start-up, readiness) apart."""
    import datetime as dt

    from integration_kit.metrics.failures import failure_groups

    try:
        with _open(db) as history:
            groups = failure_groups(history, window=window)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json({"window": window, "groups": [g.to_dict() for g in groups]})
        return
    if not groups:
        click.echo(f"No failures in the last {window} runs.")
        return
    from rich.table import Table

    def when(timestamp: float) -> str:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%m-%d %H:%M")

    console = _console()
    for infra, title in ((False, "Test failures"), (True, "Infrastructure failures (services, readiness)")):
        chosen = [g for g in groups if g.infrastructure is infra][:limit]
        if not chosen:
            continue
        table = Table(title=f"{title} (last {window} runs)")
        for name, justify in (
            ("type / code", "left"), ("message", "left"), ("count", "right"), ("runs", "right"),
            ("first seen", "left"), ("last seen", "left"), ("tests", "left"),
        ):  # fmt: skip
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for g in chosen:
            shown = "\n".join(g.tests[:3]) + (f"\n... {len(g.tests) - 3} more" if len(g.tests) > 3 else "")
            table.add_row(
                g.failure_type, g.message, str(g.count), str(g.runs),
                f"#{g.first_run} {when(g.first_seen)}", f"#{g.last_run} {when(g.last_seen)}", shown,
            )  # fmt: skip
        console.print(table)


@metrics.group()
def quarantine() -> None:
    """Flaky tests that run but do not fail the run (a committed JSON file)."""


def _quarantine_path(path: Path | None) -> Path:
    from integration_kit.config import load_settings
    from integration_kit.metrics.quarantine import resolve_quarantine_path

    if path is not None:
        return path
    root = project_root()
    return resolve_quarantine_path(root, load_settings(rootdir=root).quarantine_file)


_file_option = click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="quarantine file (default: quarantine_file setting, else quarantine.json)",
)


@quarantine.command("add")
@click.argument("nodeid")
@click.option("--reason", required=True, help="why (an issue link): shown with every quarantined failure")
@_db_option
@_file_option
@click.option("--window", "-w", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--force", is_flag=True, help="quarantine a test the history does not show flaky")
def quarantine_add(
    nodeid: str, reason: str, db: Path | None, path: Path | None, window: int, force: bool
) -> None:
    """Quarantine NODEID, a test the flaky detector found."""
    import datetime as dt

    from integration_kit.errors import ErrorCode, MetricsError
    from integration_kit.metrics.flaky import flaky_tests
    from integration_kit.metrics.quarantine import QuarantinedTest, load_quarantine, save_quarantine

    if not reason.strip():
        raise click.UsageError("--reason must say why")
    rate: float | None = None
    try:
        if not force:
            with _open(db) as history:
                found = {f.nodeid: f for f in flaky_tests(history, window=window)}
            if nodeid not in found:
                raise MetricsError(ErrorCode.METRICS_NOT_FLAKY, nodeid=nodeid, window=window)
            rate = found[nodeid].score
        target = _quarantine_path(path)
        entries = load_quarantine(target)
        entries[nodeid] = QuarantinedTest(
            nodeid=nodeid,
            reason=reason.strip(),
            added=dt.datetime.now(dt.UTC).replace(microsecond=0),
            flip_rate=rate,
        )
        save_quarantine(target, entries)
    except IntegrationKitError as exc:
        _fail(exc)
    click.echo(f"quarantined {nodeid} in {target}" + (f" (flip rate {rate:.2f})" if rate is not None else ""))


@quarantine.command("remove")
@click.argument("nodeid")
@_file_option
def quarantine_remove(nodeid: str, path: Path | None) -> None:
    """Take NODEID out of quarantine."""
    from integration_kit.metrics.quarantine import load_quarantine, save_quarantine

    try:
        target = _quarantine_path(path)
        entries = load_quarantine(target)
        if entries.pop(nodeid, None) is None:
            raise click.ClickException(f"{nodeid} is not quarantined in {target}")
        save_quarantine(target, entries)
    except IntegrationKitError as exc:
        _fail(exc)
    click.echo(f"removed {nodeid} from {target}")


@quarantine.command("list")
@_file_option
@_json_option
def quarantine_list(path: Path | None, as_json: bool) -> None:
    """The quarantined tests with their reason and age."""
    from integration_kit.metrics.quarantine import load_quarantine

    try:
        target = _quarantine_path(path)
        entries = load_quarantine(target)
    except IntegrationKitError as exc:
        _fail(exc)
    if as_json:
        _emit_json(
            [{**e.to_dict(), "age_days": round(e.age().total_seconds() / 86400, 2)} for e in entries.values()]
        )
        return
    if not entries:
        click.echo(f"No quarantined tests in {target}.")
        return
    from rich.table import Table

    table = Table(title=f"Quarantine ({target.name})")
    for name in ("test", "age", "reason", "flip rate"):
        table.add_column(name, overflow="fold")
    for e in sorted(entries.values(), key=lambda e: e.added):
        table.add_row(e.nodeid, e.age_text(), e.reason, "" if e.flip_rate is None else f"{e.flip_rate:.2f}")
    _console().print(table)


if __name__ == "__main__":  # pragma: no cover
    metrics()
