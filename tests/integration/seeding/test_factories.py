"""Seeding through factory_boy into a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import factory
import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.seeding import TableFactory, scenario
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration


class CustomerFactory(TableFactory):
    class Meta:
        table = "customers"

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")


class OrderFactory(TableFactory):
    class Meta:
        table = "orders"

    sku = factory.Faker("bothify", text="SKU-####")
    quantity = factory.Faker("pyint", min_value=1, max_value=9)


@scenario(seed=42)
async def shop(connection: asyncpg.Connection) -> dict[str, object]:
    customer = await CustomerFactory.insert_one(connection, name="Ada Lovelace")
    orders = await OrderFactory.insert(connection, size=3, customer_id=customer["id"])
    return {"customer": customer, "orders": orders}


@pytest.fixture
async def connection(ik_postgres: Endpoint) -> AsyncIterator[asyncpg.Connection]:
    admin = await asyncpg.connect(ik_postgres.dsn)
    name = f"ik_seed_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    connection = await asyncpg.connect(ik_postgres.dsn.rsplit("/", 1)[0] + f"/{name}")
    await connection.execute(
        "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text UNIQUE);"
        "CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,"
        " sku text NOT NULL, quantity int NOT NULL CHECK (quantity > 0));"
    )
    try:
        yield connection
    finally:
        await connection.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_insert_returns_stored_rows_with_generated_keys(connection: asyncpg.Connection) -> None:
    rows = await CustomerFactory.insert(connection, size=5)
    assert len(rows) == 5
    assert all(isinstance(row["id"], int) for row in rows)
    assert await connection.fetchval("select count(*) from customers") == 5
    stored = await connection.fetch("select id, name, email from customers order by id")
    assert [dict(record) for record in stored] == sorted(rows, key=lambda row: row["id"])


async def test_foreign_keys_are_composed_explicitly(connection: asyncpg.Connection) -> None:
    result = await shop(connection)
    customer_id = result["customer"]["id"]  # type: ignore[index]
    assert await connection.fetchval("select count(*) from orders where customer_id = $1", customer_id) == 3


async def test_scenarios_are_reproducible(connection: asyncpg.Connection) -> None:
    first = await shop(connection)
    second = await shop(connection)
    strip = lambda rows: [(row["sku"], row["quantity"]) for row in rows]  # noqa: E731
    assert strip(first["orders"]) == strip(second["orders"])  # type: ignore[index]


async def test_database_errors_surface(connection: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await OrderFactory.insert(connection, customer_id=999_999)


@pytest.mark.unit
def test_meta_table_is_validated_at_class_definition() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:

        class Broken(TableFactory):
            class Meta:
                table = "orders; drop table orders"

    assert caught[0].context["owner"] == "Broken"
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):

        class NoTable(TableFactory):
            pass


@pytest.mark.unit
def test_sync_create_points_to_insert() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        CustomerFactory.create()
    assert "insert(connection)" in str(caught[0])
