"""``integration-kit seed``: a module's scenarios written into a developer's own services.

::

    integration-kit seed --list --module tests.scenarios
    integration-kit seed catalog --module tests.scenarios --postgres-dsn postgresql://me@localhost/shop \\
        --redis-url redis://localhost:6379/0 --kafka localhost:9092 --seed 42

The scenario and what it requires run in dependency order with the same data the
tests get for the same seed. PostgreSQL writes are one transaction (all or nothing);
Kafka topics and Redis keys are used as the scenarios name them (no worker namespace).
A progress display counts rows built and written; a table sums up what was written.
Errors print their code and exit 1; credentials in URLs are never printed.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from integration_kit.redaction import redact


def _load_module(name: str) -> Any:
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {name!r}: {exc}", param_hint="--module") from exc


@click.command("seed")
@click.argument("scenarios", nargs=-1)
@click.option("--module", "-m", "module_name", required=True, help="Module defining the scenarios.")
@click.option("--list", "list_only", is_flag=True, help="List the module's scenarios and exit.")
@click.option("--postgres-dsn", default=None, help="PostgreSQL to seed (postgresql://...).")
@click.option("--redis-url", default=None, help="Redis to seed (redis://host:port/db).")
@click.option("--kafka", "kafka_servers", default=None, help="Kafka bootstrap servers (host:port,...).")
@click.option("--seed", "seed", default=None, help="Run seed (default: the seed setting, else 0).")
def seed(
    scenarios: Sequence[str],
    module_name: str,
    list_only: bool,
    postgres_dsn: str | None,
    redis_url: str | None,
    kafka_servers: str | None,
    seed: str | None,
) -> None:
    """Seed SCENARIOS (and what they require) from --module into your own services."""
    from rich.console import Console
    from rich.table import Table

    from integration_kit.errors import IntegrationKitError
    from integration_kit.seeding.scenarios import module_scenarios, plan, resolve

    console = Console(stderr=True)
    module = _load_module(module_name)
    known = module_scenarios(module)
    if list_only:
        table = Table(title=f"scenarios in {module_name}")
        table.add_column("scenario")
        table.add_column("requires")
        table.add_column("description")
        for item in known:
            doc = (item.function.__doc__ or "").strip().splitlines()
            requires = ", ".join(r if isinstance(r, str) else r.name for r in item.requires)
            table.add_row(item.name, requires, doc[0] if doc else "")
        Console().print(table)
        return
    if not scenarios:
        raise click.UsageError("name a scenario to seed, or pass --list")
    try:
        from integration_kit.seeding.context import check_seed

        if seed is not None:
            run_seed = check_seed(seed, "--seed")
        else:
            from integration_kit.config import load_settings

            run_seed = load_settings().seed or 0
        items = plan([resolve(name, module=module) for name in scenarios])
        totals = asyncio.run(
            _seed(items, run_seed, postgres_dsn=postgres_dsn, redis_url=redis_url, kafka=kafka_servers)
        )
    except IntegrationKitError as exc:
        console.print(f"[red]{exc}[/red]")
        click.echo(f"error: {exc.code.value}", err=True)
        sys.exit(1)
    except (OSError, ConnectionError) as exc:
        click.echo(f"error: cannot reach a service: {type(exc).__name__}: {redact(str(exc))}", err=True)
        sys.exit(1)
    table = Table(title=f"seeded (seed {run_seed})")
    for column in ("scenario", "postgres rows", "kafka messages", "redis keys", "seconds"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for name, counts in totals.items():
        table.add_row(
            name,
            f"{counts.get('postgres', 0):,}",
            f"{counts.get('kafka', 0):,}",
            f"{counts.get('redis', 0):,}",
            f"{counts.get('seconds', 0.0):.2f}",
        )
    Console().print(table)


async def _seed(
    items: list[Any], run_seed: int, *, postgres_dsn: str | None, redis_url: str | None, kafka: str | None
) -> dict[str, dict[str, float]]:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from integration_kit.seeding.context import Stores
    from integration_kit.seeding.scenarios import ScenarioRun

    stores = Stores()
    closers: list[Any] = []
    totals: dict[str, dict[str, float]] = {item.name: {} for item in items}
    try:
        if postgres_dsn:
            import asyncpg

            stores.postgres = await asyncpg.connect(postgres_dsn)
            closers.append(stores.postgres.close)
        if redis_url:
            import redis.asyncio as aioredis

            stores.redis = aioredis.Redis.from_url(redis_url)
            closers.append(stores.redis.aclose)
        if kafka:
            from integration_kit.kafka.handle import KafkaHandle
            from integration_kit.services.namespace import Namespace

            stores.kafka = KafkaHandle(kafka, namespace=Namespace("main"))
            closers.append(stores.kafka.aclose)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
        ) as progress:
            tasks = {item.name: progress.add_task(f"{item.name}: waiting", total=None) for item in items}

            def report(name: str, store: str, count: int) -> None:
                counts = totals[name]
                counts[store] = counts.get(store, 0) + count
                parts = [f"{int(counts[s]):,} {label}" for s, label in _LABELS if counts.get(s)]
                progress.update(tasks[name], description=f"{name}: " + ", ".join(parts))

            run = ScenarioRun(run_seed=run_seed, progress=report)
            transaction = stores.postgres.transaction() if stores.postgres is not None else None
            if transaction is not None:
                await transaction.start()
            try:
                for item in items:
                    started = time.monotonic()
                    await run.ensure(item, stores=stores)
                    totals[item.name]["seconds"] = time.monotonic() - started
                    progress.update(tasks[item.name], completed=1, total=1)
            except BaseException:
                if transaction is not None:
                    await transaction.rollback()
                raise
            if transaction is not None:
                await transaction.commit()
    finally:
        for close in reversed(closers):
            await close()
    return totals


_LABELS = (("built", "rows built"), ("postgres", "rows"), ("kafka", "messages"), ("redis", "keys"))
