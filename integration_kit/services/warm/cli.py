"""``integration-kit services up | status | down | clean``: the warm sets by hand.

::

    integration-kit services up [--backend NAME] [--only postgres,redis] [--json]
    integration-kit services status [--json] [--all]
    integration-kit services down [--all]
    integration-kit services clean [--older-than SECONDS]

``up`` starts (or finds) the project's warm set and leaves it running; ``status`` lists
the warm sets (this project's, or every project's with ``--all``); ``down`` stops them;
``clean`` removes what ``--ik-keep-failed`` kept (see docs/reuse.md).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from integration_kit.config import BACKENDS

KINDS = ("postgres", "redis", "kafka")


def _specs(only: str | None) -> list[Any]:
    from integration_kit.services.base import KafkaService, PostgresService, RedisService

    specs = {"postgres": PostgresService(), "redis": RedisService(), "kafka": KafkaService()}
    kinds = [k.strip() for k in only.split(",")] if only else list(KINDS)
    unknown = [k for k in kinds if k not in specs]
    if unknown:
        raise click.BadParameter(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    return [specs[k] for k in kinds]


def _fail(exc: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": exc.code.value, "message": exc.message, "hint": exc.hint}))
    else:
        click.echo(str(exc), err=True)
        click.echo(f"error: {exc.code.value}", err=True)
    sys.exit(1)


@click.command("up")
@click.option("--backend", type=click.Choice([b for b in BACKENDS if b != "external"]), default=None)
@click.option("--only", default=None, help="Comma-separated kinds (default: postgres,redis,kafka).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def up(backend: str | None, only: str | None, as_json: bool) -> None:
    """Start the project's warm services (or find them running) and leave them up."""
    from integration_kit.config import load_settings
    from integration_kit.errors import IntegrationKitError
    from integration_kit.services.session import ServiceSession
    from integration_kit.services.warm.backend import WarmBackend

    specs = _specs(only)
    try:
        settings = load_settings(cli={"backend": backend}, reuse=True)
        started = time.monotonic()
        warm = WarmBackend(settings)
        with ServiceSession(settings, backend=warm) as session:
            session.ensure(specs)
            total = time.monotonic() - started
            status = warm.warm.status()
    except IntegrationKitError as exc:
        _fail(exc, as_json)
        return
    status["ready_s"] = round(total, 3)
    status["reused"] = sorted(set(warm.reused))
    if as_json:
        click.echo(json.dumps(status))
        return
    from integration_kit.services.warm.backend import status_lines

    for line in warm.notes:
        click.echo(line)
    for line in status_lines([status]):
        click.echo(line)
    click.echo(f"ready in {total:.2f} s (reused: {', '.join(status['reused']) or 'none'})")


def _sets(all_projects: bool) -> list[Any]:
    from integration_kit.config import load_settings
    from integration_kit.services.warm.project import project_id
    from integration_kit.services.warm.store import list_sets

    settings = load_settings()
    sets = list_sets(settings)
    if not all_projects:
        mine = project_id()
        sets = [warm for warm in sets if warm.project == mine]
    return sets


@click.command("status")
@click.option("--all", "all_projects", is_flag=True, help="Every project's warm sets.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def status(all_projects: bool, as_json: bool) -> None:
    """List the warm services: since when, for which project, idle time, endpoints."""
    from integration_kit.services.warm.backend import status_lines

    found = [warm.status() for warm in _sets(all_projects)]
    if as_json:
        click.echo(json.dumps(found))
        return
    for line in status_lines(found):
        click.echo(line)


@click.command("down")
@click.option("--all", "all_projects", is_flag=True, help="Every project's warm sets.")
def down(all_projects: bool) -> None:
    """Stop the project's warm services (all projects' with --all)."""
    sets = _sets(all_projects)
    for warm in sets:
        with warm.locked():
            count = warm.stop("services down")
        click.echo(f"stopped warm set {warm.name} ({count} service(s))")
    if not sets:
        click.echo("no warm services")


@click.command("clean")
@click.option(
    "--older-than", "older_than", type=float, default=0.0, help="Only what was kept this many s ago."
)
def clean(older_than: float) -> None:
    """Remove the databases, topics and Redis keys ``--ik-keep-failed`` kept."""
    from integration_kit.config import load_settings
    from integration_kit.services.warm.kept import clean_kept

    removed = clean_kept(load_settings(), older_than=older_than)
    for line in removed:
        click.echo(f"removed {line}")
    if not removed:
        click.echo("nothing kept")


COMMANDS = (up, status, down, clean)
