"""Benchmark: seeding rows with foreign keys through the kit's factories.

One run writes ``--rows`` rows (default 100,000) into a three-table schema with foreign
keys (customers 10%, orders 30%, order_items 60%), each way into a fresh database:

- ``copy``: ``PostgresFactory.create_batch`` per table (declarations parsed once per
  batch, rows streamed into COPY while they are built, keys drawn from the server, stored
  rows read back), the kit's way;
- ``executemany``: factory_boy's plain ``build_batch`` (dicts, ids from a Sequence) and
  one asyncpg ``executemany`` per table, the usual hand-written way;
- ``row_by_row``: one ``INSERT ... RETURNING`` per row, as a factory with a synchronous
  ``_create`` does, on ``--row-by-row-rows`` rows (default 10,000, same proportions) to
  keep the run short;
- ``build`` (for reference): factory_boy's own ``build_batch`` building the same rows
  without writing (its per-instance path, which the kit's batch build avoids).

The machine's load average (1 minute) is recorded before and after the run: figures
taken beside other jobs are not those of a quiet machine.

Each figure is the median of ``--runs`` runs (rows per second); the ratios compare with
row-by-row in the same run.

    python benchmarks/seeding.py                     # rich table
    python benchmarks/seeding.py --json --runs 3
    python benchmarks/seeding.py --dsn postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import asyncpg
import factory
import factory.fuzzy

from integration_kit import seeding
from integration_kit.seeding import PostgresFactory

TARGET_COPY_ROWS_PER_S = 50_000
TARGET_VS_ROW_BY_ROW = 10.0
SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
    status text NOT NULL, total_cents int NOT NULL);
CREATE TABLE order_items (id bigserial PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
    sku text NOT NULL, quantity int NOT NULL);
"""


# --- the kit's factories ---------------------------------------------------------------
class CustomerFactory(PostgresFactory):
    class Meta:
        table = "customers"

    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    name = factory.Sequence(lambda n: f"Customer {n}")


class OrderFactory(PostgresFactory):
    class Meta:
        table = "orders"

    customer = factory.SubFactory(CustomerFactory)
    status = factory.Iterator(["new", "paid", "shipped"])
    total_cents = factory.fuzzy.FuzzyInteger(100, 100_000)


class ItemFactory(PostgresFactory):
    class Meta:
        table = "order_items"

    order = factory.SubFactory(OrderFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    quantity = factory.fuzzy.FuzzyInteger(1, 9)


# --- plain factory_boy, the baseline ----------------------------------------------------
class PlainCustomer(factory.DictFactory):
    id = factory.Sequence(lambda n: n + 1)
    email = factory.Sequence(lambda n: f"customer{n}@example.test")
    name = factory.Sequence(lambda n: f"Customer {n}")


class PlainOrder(factory.DictFactory):
    id = factory.Sequence(lambda n: n + 1)
    customer_id = 1
    status = factory.Iterator(["new", "paid", "shipped"])
    total_cents = factory.fuzzy.FuzzyInteger(100, 100_000)


class PlainItem(factory.DictFactory):
    id = factory.Sequence(lambda n: n + 1)
    order_id = 1
    sku = factory.Sequence(lambda n: f"SKU-{n:06d}")
    quantity = factory.fuzzy.FuzzyInteger(1, 9)


def split(rows: int) -> tuple[int, int, int]:
    customers = max(1, rows // 10)
    orders = max(1, rows * 3 // 10)
    return customers, orders, max(1, rows - customers - orders)


async def kit_copy(conn: asyncpg.Connection, rows: int) -> int:
    customers_n, orders_n, items_n = split(rows)
    with seeding.use(postgres=conn, seed=1):
        customers = await CustomerFactory.create_batch(customers_n)
        orders = await OrderFactory.create_batch(orders_n, customer=factory.Iterator(customers))
        items = await ItemFactory.create_batch(items_n, order=factory.Iterator(orders))
    return len(customers) + len(orders) + len(items)


def _plain_rows(rows: int) -> tuple[list[dict], list[dict], list[dict]]:
    customers_n, orders_n, items_n = split(rows)
    for plain in (PlainCustomer, PlainOrder, PlainItem):
        plain.reset_sequence(force=True)
    customers = PlainCustomer.build_batch(customers_n)
    orders = PlainOrder.build_batch(orders_n, customer_id=factory.Iterator([c["id"] for c in customers]))
    items = PlainItem.build_batch(items_n, order_id=factory.Iterator([o["id"] for o in orders]))
    return customers, orders, items


async def plain_executemany(conn: asyncpg.Connection, rows: int) -> int:
    customers, orders, items = _plain_rows(rows)
    async with conn.transaction():
        for table, batch in (("customers", customers), ("orders", orders), ("order_items", items)):
            columns = list(batch[0])
            placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
            await conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                [tuple(row[c] for c in columns) for row in batch],
            )
    return len(customers) + len(orders) + len(items)


async def row_by_row(conn: asyncpg.Connection, rows: int) -> int:
    customers_n, orders_n, items_n = split(rows)
    for plain in (PlainCustomer, PlainOrder, PlainItem):
        plain.reset_sequence(force=True)
    written = 0
    async with conn.transaction():
        customer_ids = []
        for row in PlainCustomer.build_batch(customers_n):
            customer_ids.append(
                await conn.fetchval(
                    "INSERT INTO customers (email, name) VALUES ($1, $2) RETURNING id",
                    row["email"],
                    row["name"],
                )
            )
        order_ids = []
        for row in PlainOrder.build_batch(orders_n, customer_id=factory.Iterator(customer_ids)):
            order_ids.append(
                await conn.fetchval(
                    "INSERT INTO orders (customer_id, status, total_cents) VALUES ($1, $2, $3) RETURNING id",
                    row["customer_id"],
                    row["status"],
                    row["total_cents"],
                )
            )
        for row in PlainItem.build_batch(items_n, order_id=factory.Iterator(order_ids)):
            await conn.fetchval(
                "INSERT INTO order_items (order_id, sku, quantity) VALUES ($1, $2, $3) RETURNING id",
                row["order_id"],
                row["sku"],
                row["quantity"],
            )
        written = len(customer_ids) + len(order_ids) + items_n
    return written


async def build_only(conn: asyncpg.Connection, rows: int) -> int:
    customers, orders, items = _plain_rows(rows)
    return len(customers) + len(orders) + len(items)


Method = Callable[[asyncpg.Connection, int], Awaitable[int]]


async def measure(admin_dsn: str, method: Method, rows: int) -> float:
    """Rows per second of ``method`` writing ``rows`` rows into a fresh database."""
    admin = await asyncpg.connect(admin_dsn)
    name = f"ik_bench_seed_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(admin_dsn.rsplit("/", 1)[0] + f"/{name}")
        try:
            await conn.execute(SCHEMA)
            started = time.perf_counter()
            written = await method(conn, rows)
            seconds = time.perf_counter() - started
            count = await conn.fetchval(
                "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)"
                " + (SELECT count(*) FROM order_items)"
            )
            if method is not build_only and count != written:
                raise RuntimeError(f"{method.__name__} wrote {count} rows, expected {written}")
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
    return written / seconds


def set_copy_chunk(rows: int | None) -> int:
    """Rows per COPY statement of the kit's factories (``Meta.copy_chunk``); the one in use."""
    for factory_class in (CustomerFactory, OrderFactory, ItemFactory):
        if rows is not None:
            factory_class._meta.copy_chunk = rows  # type: ignore[attr-defined]
    return int(ItemFactory._meta.copy_chunk)  # type: ignore[attr-defined]


async def run(
    admin_dsn: str, *, rows: int, slow_rows: int, runs: int, copy_chunk: int | None = None
) -> dict[str, float]:
    chunk = set_copy_chunk(copy_chunk)
    load_before = round(os.getloadavg()[0], 2)
    samples: dict[str, list[float]] = {"copy": [], "executemany": [], "row_by_row": [], "build": []}
    for _ in range(runs):
        samples["copy"].append(await measure(admin_dsn, kit_copy, rows))
        samples["executemany"].append(await measure(admin_dsn, plain_executemany, rows))
        samples["row_by_row"].append(await measure(admin_dsn, row_by_row, slow_rows))
        samples["build"].append(await measure(admin_dsn, build_only, rows))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "load_average_before": load_before,
        "load_average_after": round(os.getloadavg()[0], 2),
        "rows": rows,
        "row_by_row_rows": slow_rows,
        "runs": runs,
        "copy_chunk": chunk,
        "copy_rows_per_s": round(medians["copy"]),
        "executemany_rows_per_s": round(medians["executemany"]),
        "row_by_row_rows_per_s": round(medians["row_by_row"]),
        "build_rows_per_s": round(medians["build"]),
        "copy_vs_row_by_row": round(medians["copy"] / medians["row_by_row"], 1),
        "copy_vs_executemany": round(medians["copy"] / medians["executemany"], 2),
        "target_copy_rows_per_s": TARGET_COPY_ROWS_PER_S,
        "target_vs_row_by_row": TARGET_VS_ROW_BY_ROW,
    }


@contextlib.contextmanager
def postgres_dsn(args: argparse.Namespace) -> Iterator[str]:
    """The server to measure: ``--dsn``, else one started through the kit (``--backend``)."""
    if args.dsn:
        yield args.dsn
        return
    from integration_kit.config import load_settings
    from integration_kit.services.base import PostgresService
    from integration_kit.services.session import ServiceSession

    with ServiceSession(load_settings(cli={"backend": args.backend})) as session:
        yield session.endpoint(PostgresService()).dsn


def print_table(result: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"seeding {result['rows']:,} rows, 3 tables with foreign keys (median of {result['runs']}, "
        f"COPY chunks of {result['copy_chunk']:,} rows, "
        f"load average {result['load_average_before']} -> {result['load_average_after']})"
    )
    table.add_column("method")
    table.add_column("rows/s", justify="right")
    table.add_column("vs row-by-row", justify="right")
    table.add_column("target", justify="right")
    base = result["row_by_row_rows_per_s"]
    copy_ok = result["copy_rows_per_s"] >= TARGET_COPY_ROWS_PER_S
    ratio_ok = result["copy_vs_row_by_row"] >= TARGET_VS_ROW_BY_ROW
    rows = [
        (
            "PostgresFactory.create_batch (COPY)",
            "copy_rows_per_s",
            f">= {TARGET_COPY_ROWS_PER_S:,}/s {'met' if copy_ok else 'NOT met'}, "
            f">= {TARGET_VS_ROW_BY_ROW:.0f}x {'met' if ratio_ok else 'NOT met'}",
        ),
        ("factory_boy build_batch + executemany", "executemany_rows_per_s", ""),
        (f"row by row ({result['row_by_row_rows']:,} rows)", "row_by_row_rows_per_s", "baseline"),
        ("factory_boy build_batch only (no writes)", "build_rows_per_s", "reference"),
    ]
    for label, key, target in rows:
        table.add_row(label, f"{result[key]:,.0f}", f"{result[key] / base:.1f}x", target)
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--row-by-row-rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default=None, choices=("auto", "docker", "local", "external"))
    parser.add_argument("--dsn", default=None, help="measure an already-running server instead")
    parser.add_argument(
        "--copy-chunk",
        type=int,
        default=None,
        help="rows per COPY statement (Meta.copy_chunk; default the kit's)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with postgres_dsn(args) as dsn:
        result = asyncio.run(
            run(
                dsn,
                rows=args.rows,
                slow_rows=args.row_by_row_rows,
                runs=args.runs,
                copy_chunk=args.copy_chunk,
            )
        )
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
