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
CREATE TABLE audit_log (id serial PRIMARY KEY, rows_seen int NOT NULL);
CREATE TABLE audited (id serial PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION log_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log (rows_seen) SELECT count(*) FROM audited;
    RETURN NULL;
END $$;
CREATE TRIGGER audited_statements AFTER INSERT ON audited FOR EACH STATEMENT EXECUTE FUNCTION log_statement();
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


def _factories(threshold: int, chunk: int = 5000) -> tuple[type, type]:
    class Customer(PostgresFactory):
        class Meta:
            table = "customers"
            copy_threshold = threshold
            copy_chunk = chunk

        name = factory.Sequence(lambda n: f"customer {n}")

    class Order(PostgresFactory):
        class Meta:
            table = "orders"
            copy_threshold = threshold
            copy_chunk = chunk

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


async def _write(
    dsn: str, flags: list[tuple[bool, bool, bool]], threshold: int, chunk: int = 5000
) -> list[Any]:
    """The batch as written (parents by name), after checking it returned the stored rows."""
    customer_factory, order_factory = _factories(threshold, chunk)
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
@given(
    st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12),
    st.integers(1, 4),
)
@example([PLAIN, (True, False, False), PLAIN], 5000)  # a new parent ends the stream
@example([PLAIN, PLAIN, (False, True, False), PLAIN], 5000)  # so does another column set
@example([PLAIN, (False, False, True), PLAIN], 5000)  # and a related row
@example([PLAIN] * 7, 3)  # chunks of 3, 3 and 1 rows
@example([PLAIN] * 4 + [(True, False, False), PLAIN], 2)  # a stream ending right after a chunk
def test_streamed_batches_store_and_return_what_insert_does(
    database: str, flags: list[tuple[bool, bool, bool]], chunk: int
) -> None:
    """Streamed in chunks of ``chunk`` rows, in one COPY, or inserted: the same rows, as stored."""
    chunked = asyncio.run(_write(database, flags, threshold=1, chunk=chunk))
    single = asyncio.run(_write(database, flags, threshold=1, chunk=10**9))
    inserted = asyncio.run(_write(database, flags, threshold=10**9))
    assert chunked == single == inserted


async def _count(dsn: str, table: str = "customers") -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
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


def _chunked(factory_class: type, chunk: int) -> type:
    meta = type("Meta", (), {"copy_chunk": chunk})
    return type(factory_class.__name__, (factory_class,), {"Meta": meta})


@pytest.mark.parametrize("chunk", [2, 5000])  # in a later chunk, or in the one COPY
def test_a_row_failing_validation_mid_stream_writes_nothing(database: str, chunk: int) -> None:
    checked = _customers(
        name=factory.Sequence(lambda n: f"c{n}"), meta={"validate": lambda r: r["name"] != "c5"}
    )
    with raises_code(ErrorCode.SEED_INVALID):
        asyncio.run(_create(database, _chunked(checked, chunk), 10))
    assert asyncio.run(_count(database)) == 0


@pytest.mark.parametrize("chunk", [2, 5000])  # in a later chunk, or in the one COPY
def test_a_build_error_mid_stream_is_raised_as_is_and_writes_nothing(database: str, chunk: int) -> None:
    def name(n: int) -> str:
        if n == 6:
            raise LookupError("no name for 6")
        return f"c{n}"

    with pytest.raises(LookupError, match="no name for 6"):
        asyncio.run(_create(database, _chunked(_customers(name=factory.Sequence(name)), chunk), 10))
    assert asyncio.run(_count(database)) == 0


@pytest.mark.parametrize("chunk", [2, 5000])  # in a later chunk, or in the one COPY
def test_an_unknown_field_on_a_later_row_is_refused_with_the_columns(database: str, chunk: int) -> None:
    odd = _customers(
        name=factory.Sequence(lambda n: f"c{n}"),
        extra=factory.Sequence(lambda n: "x" if n == 4 else SKIP),
    )
    with raises_code(ErrorCode.SEED_UNKNOWN_COLUMN) as caught:
        asyncio.run(_create(database, _chunked(odd, chunk), 10))
    assert "joined" in str(caught[0])
    assert asyncio.run(_count(database)) == 0


def _orders(customer_ids: list[int], chunk: int, fail_at: int | None = None) -> type:
    """Orders naming their customer by id (a missing one violates the foreign key)."""

    def n(i: int) -> int:
        if i == fail_at:
            raise LookupError(f"no n for {i}")
        return i

    meta = type("Meta", (), {"table": "orders", "copy_threshold": 1, "copy_chunk": chunk})
    attrs = {"customer_id": factory.Iterator(customer_ids), "n": factory.Sequence(n)}
    return type("Orders", (PostgresFactory,), {"Meta": meta, **attrs})


async def _with_customers(dsn: str, count: int, write: Any, *, refused: bool = True) -> None:
    """``write(ids)`` with ``count`` customers stored, all rolled back afterwards.

    ``refused``: the writes must have left no order behind (the connection still usable).
    """
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            ids = [
                r["id"]
                for r in await conn.fetch(
                    "INSERT INTO customers (name) SELECT 'c' FROM generate_series(1, $1) RETURNING id", count
                )
            ]
            with seeding.use(postgres=conn, seed=0):
                await write(ids)
            if refused:
                assert await conn.fetchval("SELECT count(*) FROM orders") == 0  # nothing of a batch is left
            raise _RollBack
    except _RollBack:
        pass
    finally:
        await conn.close()


class _RollBack(Exception):
    pass


@pytest.mark.parametrize("chunk", [1, 3, 5000])
def test_a_foreign_key_violation_in_a_middle_chunk_writes_nothing(database: str, chunk: int) -> None:
    """Row 7 of 10 names no customer: the whole batch is refused, earlier chunks included."""

    async def write(ids: list[int]) -> None:
        customer_ids = [ids[0]] * 10
        customer_ids[7] = -1
        with raises_code(ErrorCode.SEED_WRITE_FAILED) as caught:
            await _orders(customer_ids, chunk).create_batch(10)
        assert "ForeignKeyViolationError" in str(caught[0])

    asyncio.run(_with_customers(database, 1, write))
    assert asyncio.run(_count(database, "orders")) == 0


@pytest.mark.parametrize("chunk", [1, 3, 5000])
def test_a_foreign_key_violation_before_a_build_error_is_what_is_raised(database: str, chunk: int) -> None:
    """As from one COPY: rows before the failing build are still checked, and their error wins."""

    async def write(ids: list[int]) -> None:
        customer_ids = [ids[0]] * 10
        customer_ids[4] = -1
        with raises_code(ErrorCode.SEED_WRITE_FAILED):
            await _orders(customer_ids, chunk, fail_at=5).create_batch(10)  # its 6th row fails to build
        with pytest.raises(LookupError, match="no n for"):  # no violation before it: the build error
            await _orders([ids[0]], chunk, fail_at=5).create_batch(10)

    asyncio.run(_with_customers(database, 1, write))


def test_a_batch_is_written_in_chunks_of_copy_chunk_rows(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[int] = []
    real = asyncpg.Connection.copy_records_to_table

    async def counting(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        statements.append(len(kwargs["records"]))
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "copy_records_to_table", counting)

    async def write(ids: list[int]) -> None:
        rows = await _orders(ids, 3).create_batch(7)
        assert [r["customer_id"] for r in rows] == ids[:7] and [r["n"] for r in rows] == sorted(
            r["n"] for r in rows
        )

    asyncio.run(_with_customers(database, 7, write, refused=False))
    assert statements == [3, 3, 1]


def test_a_table_with_user_triggers_gets_one_copy(database: str) -> None:
    """A statement trigger fires once for the batch and sees all of it, as with one COPY."""

    async def run() -> tuple[list[Any], list[int]]:
        conn = await asyncpg.connect(database)
        try:
            async with conn.transaction():
                meta = type("Meta", (), {"table": "audited", "copy_threshold": 1, "copy_chunk": 2})
                audited = type("Audited", (PostgresFactory,), {"Meta": meta, "name": factory.Sequence(str)})
                with seeding.use(postgres=conn, seed=0):
                    rows = await audited.create_batch(5)
                stored = [dict(r) for r in await conn.fetch("SELECT * FROM audited ORDER BY id")]
                log = [r["rows_seen"] for r in await conn.fetch("SELECT rows_seen FROM audit_log")]
                assert rows == stored
                raise _RollBack
        except _RollBack:
            return rows, log
        finally:
            await conn.close()

    rows, log = asyncio.run(run())
    assert len(rows) == 5 and log == [5]


def test_a_batch_cancelled_with_a_copy_in_flight_writes_nothing_and_frees_the_connection(
    database: str,
) -> None:
    """The task is cancelled while a chunk's COPY is in flight: nothing is written, the connection works."""

    def name(n: int) -> str:
        if n == 25:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # delivered at the stream's next await
        return f"c{n}"

    async def run() -> tuple[bool, int]:
        conn = await asyncpg.connect(database)
        try:
            meta = type("Meta", (), {"table": "customers", "copy_threshold": 1, "copy_chunk": 10})
            customers = type("Customers", (PostgresFactory,), {"Meta": meta, "name": factory.Sequence(name)})
            cancelled = False
            try:
                with seeding.use(postgres=conn, seed=0):
                    await customers.create_batch(100)
            except asyncio.CancelledError:
                cancelled = True
            return cancelled, int(await conn.fetchval("SELECT count(*) FROM customers"))
        finally:
            await conn.close()

    assert asyncio.run(run()) == (True, 0)
