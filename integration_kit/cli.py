"""The ``integration-kit`` command.

::

    integration-kit services check [--backend NAME] [--json]
    integration-kit services up|status|down|clean ...   (warm services, docs/reuse.md)
    integration-kit metrics flaky|trends|shards|report|runs|merge|prune ...
    integration-kit contracts verify DIR | compat OLD NEW
    integration-kit seed SCENARIO --module M [--postgres-dsn ...] [--redis-url ...] [--kafka ...]
    integration-kit tests pollution NODEID [--run ID] [-- PYTEST ARGS]
    integration-kit lint-tests [PATH] [--json] [--select RULE] [--folder NAME=CATEGORY]

``services check`` starts PostgreSQL, Redis and Kafka in parallel through the selected backend, waits until
each is healthy, prints each one's start-to-ready time and the total, stops them and
exits 0; on failure it prints the error code and exits 1.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from integration_kit.config import BACKENDS


@click.group()
@click.version_option(package_name="integration-kit")
def main() -> None:
    """integration-kit: services for integration and e2e tests."""


@main.group()
def services() -> None:
    """Start, check and clean up the services the kit runs."""


@services.command("check")
@click.option("--backend", type=click.Choice(BACKENDS), default=None, help="Backend (default: settings).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def check(backend: str | None, as_json: bool) -> None:
    """Start PostgreSQL, Redis and Kafka, wait until healthy, report the times, stop them."""
    from integration_kit.config import load_settings
    from integration_kit.errors import IntegrationKitError
    from integration_kit.services.base import KafkaService, PostgresService, RedisService
    from integration_kit.services.session import ServiceSession

    specs = [PostgresService(), RedisService(), KafkaService()]
    try:
        settings = load_settings(cli={"backend": backend})
        started = time.monotonic()
        with ServiceSession(settings) as session:
            session.ensure(specs)
            total = time.monotonic() - started
            records = {spec.key: session.records[spec.key] for spec in specs}
            backend_name = getattr(session.backend, "name", settings.backend)
    except IntegrationKitError as exc:
        if as_json:
            click.echo(json.dumps({"error": exc.code.value, "message": exc.message, "hint": exc.hint}))
        else:
            click.echo(str(exc), err=True)
            click.echo(f"error: {exc.code.value}", err=True)
        sys.exit(1)

    result: dict[str, Any] = {
        "backend": backend_name,
        "services": {
            key: {"ready_s": round(record.seconds, 3), "attempts": record.attempts, "via": record.backend}
            for key, record in records.items()
        },
        "total_s": round(total, 3),
    }
    if as_json:
        click.echo(json.dumps(result))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"services check ({backend_name} backend)")
    table.add_column("service")
    table.add_column("backend")
    table.add_column("start-to-ready (s)", justify="right")
    table.add_column("attempts", justify="right")
    for key, record in records.items():
        table.add_row(key, record.backend, f"{record.seconds:.2f}", str(record.attempts))
    table.add_row("total (parallel)", "", f"{total:.2f}", "", style="bold")
    Console().print(table)


def _add_layer_commands() -> None:
    from integration_kit.contracts.cli import contracts
    from integration_kit.metrics.cli import metrics
    from integration_kit.seeding.cli import seed
    from integration_kit.services.warm.cli import COMMANDS as WARM_COMMANDS
    from integration_kit.suite.cli import lint_tests_command, tests

    for command in WARM_COMMANDS:
        services.add_command(command)

    main.add_command(metrics)
    main.add_command(contracts)
    main.add_command(seed)
    main.add_command(tests)
    main.add_command(lint_tests_command)


_add_layer_commands()

if __name__ == "__main__":
    main()
