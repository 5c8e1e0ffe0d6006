"""``integration-kit tests pollution`` and ``integration-kit lint-tests``.

Exit codes: ``lint-tests`` 0 without findings, 1 with findings, 2 for a usage error;
``tests pollution`` 0 when it found the polluter, 1 when it could not (a coded error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from integration_kit.errors import IntegrationKitError


@click.group("tests")
def tests() -> None:
    """Test-suite health: find the test that pollutes another."""


@tests.command()
@click.argument("nodeid")
@click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None, help="history file")
@click.option(
    "--run",
    "run_id",
    type=click.IntRange(min=1),
    default=None,
    help="the run to replay (default: the newest in which NODEID failed)",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def pollution(
    nodeid: str, db: Path | None, run_id: int | None, as_json: bool, pytest_args: tuple[str, ...]
) -> None:
    """Bisect the tests that ran before NODEID (on its worker, in a recorded run) to the one
    after which it fails. Arguments after `--` go to every pytest run."""
    from integration_kit.metrics.cli import _open, project_root
    from integration_kit.suite.pollution import find_polluter, pytest_runner, recorded_predecessors

    try:
        with _open(db) as history:
            source_run, before = recorded_predecessors(history, nodeid, run_id=run_id)
    except IntegrationKitError as exc:
        raise click.ClickException(str(exc)) from exc
    budget = (len(before) - 1).bit_length() + 1 if before else 1

    def progress(number: int, order: object, outcome: str) -> None:
        if not as_json:
            count = len(order) - 1  # type: ignore[arg-type]
            click.echo(f"  run {number}: {count} earlier test(s), then the test: {outcome}")

    if not as_json:
        click.echo(
            f"bisecting the {len(before)} test(s) that ran before {nodeid} in run #{source_run} "
            f"(at most {budget} runs)"
        )
    runner = pytest_runner(project_root(), extra_args=pytest_args, on_run=progress)
    try:
        result = find_polluter(nodeid, before, runner)
    except IntegrationKitError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {"target": nodeid, "run": source_run, "error": exc.code.value, "message": str(exc)}
                )
            )
            sys.exit(1)
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "run": source_run}, indent=2))
        return
    alone = {True: "passes alone and ", None: "", False: ""}[result.passes_alone]
    click.echo(f"polluter: {result.polluter}")
    click.echo(f"  {nodeid} {alone}fails right after it ({result.runs} runs)")


@click.command("lint-tests")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the findings as JSON")
@click.option("--select", multiple=True, help="only these rules (name or code); repeatable")
@click.option(
    "--folder",
    "folders",
    multiple=True,
    metavar="NAME=CATEGORY",
    help="another test folder and its category (unit, integration, e2e, contract); repeatable",
)
def lint_tests_command(
    path: Path | None, as_json: bool, select: tuple[str, ...], folders: tuple[str, ...]
) -> None:
    """Lint the test tree PATH (default: tests/ under the project root): layout, markers,
    stale references, unused fixtures, assertion anti-patterns. Exit 1 on findings."""
    from integration_kit.config import load_settings
    from integration_kit.metrics.cli import project_root
    from integration_kit.metrics.settings import CATEGORIES
    from integration_kit.suite.lint import RULES, findings_json, lint_tests, rule_by_code

    root = project_root()
    extra = dict(load_settings(rootdir=root).lint_folders)
    for item in folders:
        name, sep, category = item.partition("=")
        if not sep or category not in CATEGORIES or not name or "/" in name:
            raise click.UsageError(f"--folder {item!r}: expected NAME=" + "|".join(CATEGORIES))
        extra[name] = category
    for rule in select:
        if rule not in RULES and rule_by_code(rule) is None:
            raise click.UsageError(f"--select {rule!r}: unknown rule; known: {', '.join(RULES)}")
    target = path if path is not None else root / "tests"
    try:
        findings = lint_tests(target, project_root=root, folders=extra, select=select or None)
    except IntegrationKitError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    if as_json:
        click.echo(findings_json(findings, root))
    else:
        for finding in findings:
            click.echo(finding.text(root))
        click.echo(f"{len(findings)} finding(s)" if findings else "no findings")
    sys.exit(1 if findings else 0)
