"""``integration-kit contracts ...``: verify a contracts directory, compare two schemas.

Exit codes: 0 all good, 1 a check failed, 2 a definition is invalid (or bad usage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from integration_kit.errors import ContractDefinitionError, IntegrationKitError


def _fail_definition(error: IntegrationKitError) -> NoReturn:
    click.echo(str(error), err=True)
    sys.exit(2)


@click.group("contracts")
def contracts() -> None:
    """Contract testing: verify contracts, check version compatibility."""


@contracts.command("verify")
@click.argument("directory", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice(["backward", "forward", "full"]),
    default=None,
    help="compatibility mode for every contract (default: each contract's declared mode)",
)
@click.option("--transitive", is_flag=True, help="compare each version with every earlier one")
@click.option("--base-url", default=None, help="also verify the HTTP contracts against this live service")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="HTTP timeout in seconds")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def verify(
    directory: Path, mode: str | None, transitive: bool, base_url: str | None, timeout: float, as_json: bool
) -> None:
    """Load every contract in DIRECTORY and run all checks: examples, versions, consumers, HTTP."""
    from integration_kit.contracts.registry import load_contracts
    from integration_kit.contracts.suite import verify_registry

    try:
        registry = load_contracts(directory)
        report = verify_registry(
            registry, mode=mode, transitive=transitive, base_url=base_url, timeout=timeout
        )
    except IntegrationKitError as error:
        if isinstance(error, ContractDefinitionError):
            _fail_definition(error)
        click.echo(str(error), err=True)
        sys.exit(1)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "contracts": [c.ref for c in registry],
                    "consumers": sorted({e.consumer for e in registry.expectations}),
                    "checks": [
                        {"kind": c.kind, "subject": c.subject, "ok": c.ok, "detail": c.detail}
                        for c in report.checks
                    ],
                },
                indent=2,
            )
        )
    else:
        _print_checks(registry, report)
    sys.exit(0 if report.ok else 1)


def _print_checks(registry: Any, report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{len(registry)} contract version(s) of {len(registry.names())} contract(s), "
        f"{len(registry.expectations)} consumer expectation(s)"
    )
    if not report.checks:
        console.print("nothing to check beyond the definitions: all valid")
        return
    table = Table("", "check", "subject", "detail")
    for check in report.checks:
        mark = "[green]ok[/green]" if check.ok else "[red]FAIL[/red]"
        table.add_row(mark, check.kind, check.subject, check.detail)
    console.print(table)
    failed = len(report.failures)
    console.print(
        "[green]all checks passed[/green]" if not failed else f"[red]{failed} check(s) failed[/red]"
    )


def _load_side(path: Path) -> Any:
    from integration_kit.contracts.message import MessageContract

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from exc
    if isinstance(data, dict) and {"name", "version", "value"} <= set(data):
        return MessageContract.from_dict(data, source=str(path))
    from integration_kit.contracts.schema import check_schema

    check_schema(data, source=str(path))
    return data


@contracts.command("compat")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mode", type=click.Choice(["backward", "forward", "full"]), default="backward", show_default=True
)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def compat(old: Path, new: Path, mode: str, as_json: bool) -> None:
    """Is NEW compatible with OLD? Each is a message contract or a plain JSON Schema (.json)."""
    from integration_kit.contracts.compat import check_compatibility
    from integration_kit.contracts.message import MessageContract

    try:
        old_side, new_side = _load_side(old), _load_side(new)
    except IntegrationKitError as error:
        _fail_definition(error)
    if isinstance(old_side, MessageContract) != isinstance(new_side, MessageContract):
        old_side = old_side.value if isinstance(old_side, MessageContract) else old_side
        new_side = new_side.value if isinstance(new_side, MessageContract) else new_side
    report = check_compatibility(old_side, new_side, mode=mode)
    if as_json:
        problems = [
            {"path": p.path, "kind": p.kind, "direction": p.direction, "message": p.message}
            for p in report.problems
        ]
        click.echo(
            json.dumps({"compatible": report.compatible, "mode": mode, "problems": problems}, indent=2)
        )
    else:
        click.echo(report.render())
    sys.exit(0 if report.compatible else 1)
