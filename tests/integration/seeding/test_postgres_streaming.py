"""Large batches stream into COPY while they are built: the same rows as the INSERT path, errors intact.

A differential property test: batches whose rows switch, row by row, between a stored
parent and a new one, a column left to its default, and a related row (each switch ends
the stream, the rest takes the regular path) are written once streamed (``copy_threshold
= 1``) and once through ``INSERT`` (a threshold no batch reaches), on a schema with an
identity key, a bigserial key, ``now()`` and ``gen_random_uuid()`` defaults, an enum, an
array, jsonb and a generated column. Both must store the same rows and return exactly
what is stored.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import factory
import pytest
from factory.declarations import SKIP
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integration_kit import seeding
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.seeding import PostgresFactory
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TABLE customers (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    joined timestamptz NOT NULL DEFAULT now(),
    token uuid NOT NULL DEFAULT gen_random_uuid()
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers,
    mood mood NOT NULL DEFAULT 'calm',
    tags text[] NOT NULL DEFAULT '{}',
    note jsonb,
    n int NOT NULL,
    twice int GENERATED ALWAYS AS (n * 2) STORED
);
"""


@pytest.fixture(scope="module")
def database(ik_postgres: Endpoint) -> Iterator[str]:
    name = f"ik_seedstream_{uuid.uuid4().hex[:8]}"
    dsn = ik_postgres.dsn.rsplit("/", 1)[0] + f"/{name}"

    async def create() -> None:
        admin = await asyncpg.connect(ik_postgres.dsn)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        conn = await asyncpg.connect(dsn)
        await conn.execute(SCHEMA)
        await conn.close()

    async def drop() -> None:
        admin = await asyncpg.connect(ik_postgres.dsn)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()

    asyncio.run(create())
    yield dsn
    asyncio.run(drop())


def _factories(threshold: int) -> tuple[type, type]:
    class Customer(PostgresFactory):
        class Meta:
            table = "customers"
            copy_threshold = threshold

        name = factory.Sequence(lambda n: f"customer {n}")

    class Order(PostgresFactory):
        class Meta:
            table = "orders"
            copy_threshold = threshold

        class Params:
            fresh = False  # a new parent row, written before the order
            bare = False  # mood left to its default
            related = False  # a related customer row, written after the order
            existing = None

        customer = factory.Maybe("fresh", factory.SubFactory(Customer), factory.SelfAttribute("existing"))
        mood = factory.Maybe("bare", SKIP, factory.Iterator(["busy", "calm"]))
        tags = factory.Sequence(lambda n: ["a", "b'c", f"{n}"])
        note = factory.Sequence(lambda n: {"n": n, "text": "é\"'"})
        n = factory.Sequence(lambda n: n)
        friend = factory.Maybe(
            "related", factory.RelatedFactory(Customer, name=factory.Sequence(lambda n: f"related {n}")), SKIP
        )

    return Customer, Order


async def _stored(conn: asyncpg.Connection, table: str) -> dict[Any, dict[str, Any]]:
    return {r["id"]: dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")}


async def _write(dsn: str, flags: list[tuple[bool, bool, bool]], threshold: int) -> list[Any]:
    """The batch as written (parents by name), after checking it returned the stored rows."""
    customer_factory, order_factory = _factories(threshold)
    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            with seeding.use(postgres=conn, seed=0):
                existing = await customer_factory.create(name="existing")
                orders = await order_factory.create_batch(
                    len(flags),
                    fresh=factory.Iterator([f[0] for f in flags]),
                    bare=factory.Iterator([f[1] for f in flags]),
                    related=factory.Iterator([f[2] for f in flags]),
                    existing=existing,
                )
            customers, stored = await _stored(conn, "customers"), await _stored(conn, "orders")
        finally:
            await tx.rollback()
    finally:
        await conn.close()
    assert len(stored) == len(orders) and all(stored[order["id"]] == order for order in orders)
    names = sorted(c["name"] for c in customers.values())
    return [names] + [
        (
            {k: v for k, v in order.items() if k not in ("id", "customer_id")},
            customers[order["customer_id"]]["name"],
        )
        for order in orders
    ]


PLAIN = (False, False, False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12))
@example([PLAIN, (True, False, False), PLAIN])  # a new parent ends the stream
@example([PLAIN, PLAIN, (False, True, False), PLAIN])  # so does another column set
@example([PLAIN, (False, False, True), PLAIN])  # and a related row
def test_streamed_batches_store_and_return_what_insert_does(
    database: str, flags: list[tuple[bool, bool, bool]]
) -> None:
    streamed = asyncio.run(_write(database, flags, threshold=1))
    inserted = asyncio.run(_write(database, flags, threshold=10**9))
    assert streamed == inserted


async def _count(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM customers"))
    finally:
        await conn.close()


async def _create(dsn: str, factory_class: Any, size: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        with seeding.use(postgres=conn, seed=0):
            await factory_class.create_batch(size)
    finally:
        assert await conn.fetchval("SELECT 1") == 1  # the connection is usable after the failed COPY
        await conn.close()


def _customers(**attrs: Any) -> type:
    meta = type("Meta", (), {"table": "customers", "copy_threshold": 1, **attrs.pop("meta", {})})
    return type("Customers", (PostgresFactory,), {"Meta": meta, **attrs})


def test_a_row_failing_validation_mid_stream_writes_nothing(database: str) -> None:
    checked = _customers(
        name=factory.Sequence(lambda n: f"c{n}"), meta={"validate": lambda r: r["name"] != "c5"}
    )
    with raises_code(ErrorCode.SEED_INVALID):
        asyncio.run(_create(database, checked, 10))
    assert asyncio.run(_count(database)) == 0


def test_a_build_error_mid_stream_is_raised_as_is_and_writes_nothing(database: str) -> None:
    def name(n: int) -> str:
        if n == 6:
            raise LookupError("no name for 6")
        return f"c{n}"

    with pytest.raises(LookupError, match="no name for 6"):
        asyncio.run(_create(database, _customers(name=factory.Sequence(name)), 10))
    assert asyncio.run(_count(database)) == 0


def test_an_unknown_field_on_a_later_row_is_refused_with_the_columns(database: str) -> None:
    odd = _customers(
        name=factory.Sequence(lambda n: f"c{n}"),
        extra=factory.Sequence(lambda n: "x" if n == 4 else SKIP),
    )
    with raises_code(ErrorCode.SEED_UNKNOWN_COLUMN) as caught:
        asyncio.run(_create(database, odd, 10))
    assert "joined" in str(caught[0])
    assert asyncio.run(_count(database)) == 0
