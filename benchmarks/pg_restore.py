"""Benchmark: how fast each isolation strategy returns a database to its snapshot.

Compares the kit's four strategies (``transaction``, ``swap``, ``template``,
``truncate``) with two baselines, pg_dump/pg_restore (``pg_restore --clean``) and a
naive TRUNCATE + COPY reload (text COPY with foreign-key checks on), on a five-table
schema with foreign keys and indexes at several sizes. Each run first lets an app
commit changes from its own connection (the transaction strategy: on the test's
connection), then restores; the figure is the median over ``--runs`` runs of the time
from the end of one test to the start of the next (``end_test()`` + ``begin_test()``,
reconnects included). ``swap`` is measured with its spares refilled between runs, i.e.
for tests longer than a clone (``swap_refill_ms`` shows how long a refill takes).

    python benchmarks/pg_restore.py                       # 1k, 100k, 1M; rich table
    python benchmarks/pg_restore.py --sizes 1k,100k --json
    python benchmarks/pg_restore.py --backend local       # a private server started by the kit
    python benchmarks/pg_restore.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/pg_restore.py --sizes rich            # only the rich schema

Sizes count rows over the five tables (customers 10%, products 5%, orders 25%,
order_items 40%, payments 20%). ``rich`` is a second workload: the restore-fidelity
suite's schema (tests/integration/postgres/rich_schema: partitions, materialized views,
identity columns, enums, domains, triggers, RLS, an exclusion constraint, contrib
extensions, large objects, database-level settings and grants; ~1k rows with TOAST-sized
values), where the naive TRUNCATE + COPY baseline does not apply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from integration_kit.postgres import IsolatedDatabase
from integration_kit.postgres.janitor import Janitor

SIZES = {"1k": 1_000, "100k": 100_000, "1M": 1_000_000, "rich": 0}
RICH_SCHEMA = Path(__file__).resolve().parents[1] / "tests" / "integration" / "postgres" / "rich_schema"
RICH_ROLE = "ik_bench_rich_app"
STRATEGIES = ("transaction", "swap", "template", "truncate")
TARGETS_MS = {"transaction": ("<= 0.3 ms", lambda size, ms: ms <= 0.3)}
TARGETS_MS["swap"] = ("<= 20 ms", lambda size, ms: ms <= 20)
TARGETS_MS["template"] = ("<= 100 ms at 100k", lambda size, ms: size != "100k" or ms <= 100)

SCHEMA = """
create table customers (id bigserial primary key, email text not null unique, name text not null,
    created_at timestamptz not null default now());
create table products (id bigserial primary key, sku text not null unique, title text not null,
    price_cents integer not null);
create table orders (id bigserial primary key, customer_id bigint not null references customers (id),
    status text not null, total_cents bigint not null, created_at timestamptz not null default now());
create index orders_customer_idx on orders (customer_id);
create index orders_status_idx on orders (status);
create table order_items (id bigserial primary key, order_id bigint not null references orders (id),
    product_id bigint not null references products (id), quantity integer not null,
    price_cents integer not null);
create index order_items_order_idx on order_items (order_id);
create index order_items_product_idx on order_items (product_id);
create table payments (id bigserial primary key, order_id bigint not null references orders (id),
    amount_cents bigint not null, method text not null, paid_at timestamptz not null default now());
create index payments_order_idx on payments (order_id);
"""

TABLES = ("customers", "products", "orders", "order_items", "payments")


def populate_sql(rows: int) -> list[str]:
    """Statements filling the schema with ``rows`` rows in total."""
    c, p, o, i, pay = (max(1, int(rows * share)) for share in (0.10, 0.05, 0.25, 0.40, 0.20))
    return [
        f"insert into customers (email, name) select 'c' || g || '@example.com', 'Customer ' || g "
        f"from generate_series(1, {c}) g",
        f"insert into products (sku, title, price_cents) select 'SKU-' || g, 'Product ' || g, 100 + g % 900 "
        f"from generate_series(1, {p}) g",
        f"insert into orders (customer_id, status, total_cents) select 1 + g % {c}, "
        f"(array['new','paid','shipped'])[1 + g % 3], g % 10000 from generate_series(1, {o}) g",
        f"insert into order_items (order_id, product_id, quantity, price_cents) "
        f"select 1 + g % {o}, 1 + g % {p}, 1 + g % 5, 100 + g % 900 from generate_series(1, {i}) g",
        f"insert into payments (order_id, amount_cents, method) select 1 + g % {o}, g % 10000, "
        f"(array['card','bank'])[1 + g % 2] from generate_series(1, {pay}) g",
        "analyze",
    ]


def migration_for(rows: int) -> Callable[[str], Awaitable[None]]:
    async def migrate(dsn: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(SCHEMA)
            for statement in populate_sql(rows):
                await conn.execute(statement)
        finally:
            await conn.close()

    migrate.__qualname__ = f"bench_schema_{rows}"
    return migrate


APP_CHANGES = [
    "insert into customers (email, name) select 'new' || g || '@example.com', 'New' "
    "from generate_series(1, 10) g",
    "update products set price_cents = price_cents + 1 where id <= 50",
    "delete from payments where id <= 10",
    "insert into orders (customer_id, status, total_cents) values (1, 'new', 1)",
    "select nextval('order_items_id_seq')",
]


RICH_CHANGES = [
    "insert into app.customers (email, name) values ('new@example.com', 'New')",
    "update app.customers set name = name || '!' where id % 7 = 0",
    "insert into app.invoices (customer_id, total) values (3, 999)",
    "insert into app.events (at, kind) values ('2025-03-01', 'x'), ('2030-01-01', 'z')",
    "delete from app.tags where tag = 'red'",
    "update app.documents set body = body || 'x' where id = 2",
    "refresh materialized view app.revenue",
    "select nextval('app.global_id_seq')",
]


async def app_commits(conn: asyncpg.Connection, changes: list[str] | None = None) -> None:
    async with conn.transaction():
        for statement in APP_CHANGES if changes is None else changes:
            await conn.execute(statement)


def rich_migration() -> Callable[[str], Awaitable[None]]:
    async def migrate(dsn: str) -> None:
        from integration_kit.postgres.migrations import split_statements

        conn = await asyncpg.connect(dsn)
        try:
            for path in sorted(RICH_SCHEMA.glob("*.sql")):
                async with conn.transaction():
                    for statement in split_statements(path.read_text().replace("app_role", RICH_ROLE)):
                        await conn.execute(statement)
        finally:
            await conn.close()

    migrate.__qualname__ = "bench_rich_schema"
    return migrate


def workload(size: str) -> tuple[Callable[[str], Awaitable[None]], list[str]]:
    """The migration and the app's changes of a workload."""
    if size == "rich":
        return rich_migration(), RICH_CHANGES
    return migration_for(SIZES[size]), APP_CHANGES


@contextlib.asynccontextmanager
async def rich_role(admin_dsn: str, size: str) -> AsyncIterator[None]:
    """The role the rich schema grants to, for the duration of its workload."""
    if size != "rich":
        yield
        return
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"drop role if exists {RICH_ROLE}")
        await conn.execute(f"create role {RICH_ROLE}")
        yield
    finally:
        await conn.execute(f"drop role if exists {RICH_ROLE}")
        await conn.close()


@dataclass
class Result:
    size: str
    rows: int
    timings: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)

    def median(self, method: str) -> float:
        return statistics.median(self.timings[method])


# --- the kit's strategies ----------------------------------------------------------------


async def bench_strategy(
    admin_dsn: str, size: str, strategy: str, runs: int, extra: dict[str, float]
) -> list[float]:
    migrate, changes = workload(size)
    timings: list[float] = []
    options = {"spares": 2} if strategy == "swap" else {}
    async with IsolatedDatabase(
        admin_dsn, name=f"bench_{strategy}", migrations=migrate, isolation=strategy, **options
    ) as db:
        await db.begin_test()
        for _ in range(runs + 1):  # the first cycle warms up
            if strategy == "transaction":
                await app_commits(await db.connection(), changes)
                app = None
            else:
                app = await asyncpg.connect(db.dsn)  # the app, holding its connection across the restore
                await app_commits(app, changes)
            if strategy == "swap":
                await _spares_ready(db)  # a test longer than a refill
            started = time.perf_counter()
            await db.end_test()
            await db.begin_test()
            timings.append((time.perf_counter() - started) * 1000)
            if app is not None:
                with contextlib.suppress(Exception):
                    await app.close(timeout=1)
        await db.end_test()
        if strategy == "swap":
            swap = db.strategy
            extra["swap_refill_ms"] = round(getattr(swap, "_clone_ms", 0.0), 2)
            extra["swap_waited"] = getattr(swap, "waited", 0)
        if strategy == "truncate":
            extra["truncate_rebuilds"] = getattr(db.strategy, "rebuilds", 0)
    return timings[1:]


async def _spares_ready(db: IsolatedDatabase, timeout: float = 300) -> None:
    strategy = db.strategy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = len(strategy._ready)  # type: ignore[union-attr]
        if ready >= strategy.min_spares and strategy._inflight is None:  # type: ignore[union-attr]
            return
        await asyncio.sleep(0.01)


# --- baselines ---------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise SystemExit(f"{name} not found: install the PostgreSQL client tools")


def _conn_args(dsn: str) -> list[str]:
    return ["--dbname", dsn]


async def bench_pg_restore(admin_dsn: str, size: str, runs: int) -> list[float]:
    """pg_dump -Fc once; each run: the app commits, then pg_restore --clean into the database."""
    migrate, changes = workload(size)
    async with Janitor(admin_dsn) as janitor:
        name = await janitor.create(janitor.derived_name("ik_bench_pgrestore", "db"))
        try:
            dsn = janitor.dsn(name)
            await migrate(dsn)
            with tempfile.TemporaryDirectory(prefix="ik-bench-") as tmp:
                dump = os.path.join(tmp, "snapshot.dump")
                subprocess.run([_pg_tool("pg_dump"), "-Fc", "-f", dump, *_conn_args(dsn)], check=True)
                timings = []
                for _ in range(runs + 1):
                    app = await asyncpg.connect(dsn)
                    await app_commits(app, changes)
                    await app.close()
                    started = time.perf_counter()
                    if size == "rich":
                        # pg_restore --clean cannot drop a partitioned table's inherited
                        # constraints: restore into a recreated database instead
                        await janitor.drop(name)
                        await janitor.create(name)
                        command = [_pg_tool("pg_restore"), "--single-transaction", *_conn_args(dsn), dump]
                    else:
                        command = [
                            _pg_tool("pg_restore"),
                            "--clean",
                            "--if-exists",
                            "--single-transaction",
                            *_conn_args(dsn),
                            dump,
                        ]
                    await asyncio.to_thread(subprocess.run, command, check=True)
                    conn = await asyncpg.connect(dsn)  # like the other figures: reconnect included
                    timings.append((time.perf_counter() - started) * 1000)
                    await conn.close()
                return timings[1:]
        finally:
            await janitor.drop(name)


async def bench_truncate_copy(admin_dsn: str, rows: int, runs: int) -> list[float]:
    """TRUNCATE ... CASCADE, then text COPY of every table parents first, FK checks on."""
    async with Janitor(admin_dsn) as janitor:
        name = await janitor.create(janitor.derived_name("ik_bench_trunc", "db"))
        try:
            dsn = janitor.dsn(name)
            await migration_for(rows)(dsn)
            conn = await asyncpg.connect(dsn)
            try:
                data: dict[str, bytes] = {}
                for table in TABLES:
                    out = io.BytesIO()
                    await conn.copy_from_table(table, output=out, format="text")
                    data[table] = out.getvalue()
                sequences = await conn.fetch("select sequencename, last_value from pg_sequences")
                timings = []
                for _ in range(runs + 1):
                    await app_commits(conn)
                    started = time.perf_counter()
                    async with conn.transaction():
                        await conn.execute("truncate " + ", ".join(TABLES) + " cascade")
                        for table in TABLES:
                            await conn.copy_to_table(table, source=io.BytesIO(data[table]), format="text")
                        for seq in sequences:
                            await conn.execute(
                                "select setval($1, $2)", seq["sequencename"], seq["last_value"]
                            )
                    timings.append((time.perf_counter() - started) * 1000)
                return timings[1:]
            finally:
                await conn.close()
        finally:
            await janitor.drop(name)


# --- running -----------------------------------------------------------------------------


async def connect_floor(dsn: str, runs: int) -> float:
    """Median time of a plain connect + ``select 1``: the floor under every reconnecting restore."""
    timings = []
    for _ in range(max(runs, 10)):
        started = time.perf_counter()
        conn = await asyncpg.connect(dsn)
        await conn.fetchval("select 1")
        timings.append((time.perf_counter() - started) * 1000)
        await conn.close()
    return round(statistics.median(timings), 2)


METHODS = (*STRATEGIES, "pg_restore", "truncate_copy")


async def run_size(
    admin_dsn: str,
    size: str,
    runs: int,
    progress: Callable[[str], None],
    methods: tuple[str, ...] = METHODS,
) -> Result:
    rows = SIZES[size]
    result = Result(size=size, rows=rows)
    result.extra["connect_ms"] = await connect_floor(admin_dsn, runs)
    async with rich_role(admin_dsn, size):
        for strategy in STRATEGIES:
            if strategy not in methods:
                continue
            progress(f"{size}: {strategy}")
            result.timings[strategy] = await bench_strategy(admin_dsn, size, strategy, runs, result.extra)
        progress(f"{size}: pg_restore")  # the baseline of every ratio: always measured
        result.timings["pg_restore"] = await bench_pg_restore(admin_dsn, size, runs)
    if size != "rich" and "truncate_copy" in methods:  # the naive baseline knows the five tables only
        progress(f"{size}: truncate_copy")
        result.timings["truncate_copy"] = await bench_truncate_copy(admin_dsn, rows, runs)
    return result


@contextlib.contextmanager
def postgres_dsn(args: argparse.Namespace) -> Iterator[str]:
    """The server to measure: ``--dsn``, else one started through the kit (``--backend``)."""
    if args.dsn:
        yield args.dsn
        return
    from integration_kit.config import load_settings
    from integration_kit.services.base import PostgresService
    from integration_kit.services.session import ServiceSession

    settings = load_settings(cli={"backend": args.backend})
    with ServiceSession(settings) as session:
        yield session.endpoint(PostgresService()).dsn


def as_json(results: list[Result]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for result in results:
        entry: dict[str, float] = {"rows": result.rows, "runs": len(result.timings["pg_restore"])}
        for method in result.timings:
            entry[f"{method}_ms"] = round(result.median(method), 3)
        base = result.median("pg_restore")
        for method in result.timings:
            if method != "pg_restore":
                entry[f"{method}_vs_pg_restore"] = round(base / result.median(method), 1)
        entry.update(result.extra)
        out[result.size] = entry
    return out


def print_table(results: list[Result]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for result in results:
        what = (
            "rich schema (tests/integration/postgres/rich_schema)"
            if result.size == "rich"
            else f"{result.size} rows ({result.rows:,} over 5 tables)"
        )
        table = Table(title=f"{what}, medians of {len(result.timings['pg_restore'])} runs")
        table.add_column("method")
        table.add_column("median ms", justify="right")
        table.add_column("min ms", justify="right")
        table.add_column("max ms", justify="right")
        table.add_column("vs pg_restore", justify="right")
        table.add_column("target")
        base = result.median("pg_restore")
        for method, values in result.timings.items():
            median = statistics.median(values)
            target = ""
            if method in TARGETS_MS:
                text, check = TARGETS_MS[method]
                target = f"{text} {'[green]ok[/]' if check(result.size, median) else '[red]missed[/]'}"
            table.add_row(
                method,
                f"{median:.3f}" if median < 1 else f"{median:.1f}",
                f"{min(values):.3f}" if min(values) < 1 else f"{min(values):.1f}",
                f"{max(values):.3f}" if max(values) < 1 else f"{max(values):.1f}",
                f"{base / median:.1f}x faster" if method != "pg_restore" else "1.0x",
                target,
            )
        console.print(table)
        console.print(
            f"  a plain connect + select 1 takes {result.extra['connect_ms']:.1f} ms on this server "
            "(swap, template and pg_restore include one)"
        )
        if result.extra.get("truncate_rebuilds"):
            console.print(
                f"  truncate: {result.extra['truncate_rebuilds']} restore(s) rebuilt the database "
                "(the schema or database-level state changed, or a stale materialized view)"
            )
        if "swap_refill_ms" in result.extra:
            console.print(
                f"  swap: a refill (clone) took {result.extra['swap_refill_ms']:.1f} ms; tests shorter than "
                f"that wait for spares (restores that waited: {result.extra.get('swap_waited', 0)})"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1k,100k,1M,rich", help="comma-separated subset of 1k,100k,1M,rich"
    )
    parser.add_argument("--runs", type=int, default=5, help="measured runs per method (>= 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by size")
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated subset of {','.join(METHODS)} (pg_restore is always measured)",
    )
    parser.add_argument(
        "--backend",
        default=None,
        choices=("auto", "docker", "local", "external"),
        help="how the kit starts PostgreSQL (default: INTEGRATION_KIT_BACKEND or auto)",
    )
    parser.add_argument("--dsn", default=None, help="measure an already-running server instead")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; use {', '.join(SIZES)}")
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    if set(methods) - set(METHODS):
        parser.error(f"unknown methods {sorted(set(methods) - set(METHODS))}; use {', '.join(METHODS)}")
    logging.basicConfig(level=logging.ERROR)

    def progress(text: str) -> None:
        if not args.json:
            print(f"... {text}", file=sys.stderr, flush=True)

    with postgres_dsn(args) as dsn:
        results = [asyncio.run(run_size(dsn, size, args.runs, progress, methods)) for size in sizes]
    if args.json:
        print(json.dumps(as_json(results), indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
