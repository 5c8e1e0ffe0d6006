"""PostgresFactory against a real PostgreSQL: foreign keys, COPY, stored rows, errors."""

from __future__ import annotations

import json

import asyncpg
import factory
import pytest
from shop_factories import CustomerFactory, OrderFactory, OrderItemFactory

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.seeding import PostgresFactory, use

pytestmark = pytest.mark.integration


async def _stored(pg: asyncpg.Connection, table: str) -> list[dict]:
    return [dict(r) for r in await pg.fetch(f"SELECT * FROM {table} ORDER BY 1")]


@pytest.mark.parametrize("size", [3, 450])  # below and above Meta.copy_threshold (200)
async def test_three_levels_of_foreign_keys_return_stored_rows(pg: asyncpg.Connection, size: int) -> None:
    with use(postgres=pg):
        items = await OrderItemFactory.create_batch(size)
    assert len(items) == size
    stored_items = {row["id"]: row for row in await _stored(pg, "shop.order_items")}
    stored_orders = {row["id"]: row for row in await _stored(pg, "shop.orders")}
    stored_customers = {row["id"]: row for row in await _stored(pg, "shop.customers")}
    assert len(stored_items) == len(stored_orders) == len(stored_customers) == size
    for item in items:
        # exactly the stored row: generated uuid and generated column included
        assert stored_items[item["id"]] == item
        assert item["total"] == item["quantity"] * 1.5
        order = stored_orders[item["order_id"]]
        assert order["customer_id"] in stored_customers
        assert stored_customers[order["customer_id"]]["created_at"] is not None


async def test_overrides_reach_parents_and_rows_passed_as_parents(pg: asyncpg.Connection) -> None:
    with use(postgres=pg):
        ada = await CustomerFactory.create(name="Ada Lovelace")
        orders = await OrderFactory.create_batch(3, customer=ada, status="paid")
        items = await OrderItemFactory.create_batch(2, order__customer__name="Grace Hopper")
    assert {o["customer_id"] for o in orders} == {ada["id"]}
    assert {o["status"] for o in orders} == {"paid"}
    names = await pg.fetch(
        "SELECT c.name FROM shop.order_items i JOIN shop.orders o ON o.id = i.order_id "
        "JOIN shop.customers c ON c.id = o.customer_id WHERE i.id = ANY($1::uuid[])",
        [i["id"] for i in items],
    )
    assert [r["name"] for r in names] == ["Grace Hopper", "Grace Hopper"]


async def test_keyless_table_and_json_column(pg: asyncpg.Connection) -> None:
    class AuditFactory(PostgresFactory):
        class Meta:
            table = "shop.audit"

        what = factory.Sequence(lambda n: f"event {n}")

    class NotedOrderFactory(OrderFactory):
        note = factory.LazyFunction(lambda: {"gift": True, "lines": [1, 2]})

    with use(postgres=pg):
        audit = await AuditFactory.create_batch(300)
        order = await NotedOrderFactory.create()
    assert [a["what"] for a in audit] == [f"event {n}" for n in range(300)]
    assert await pg.fetchval("SELECT count(*) FROM shop.audit") == 300
    assert json.loads(order["note"]) == {"gift": True, "lines": [1, 2]}  # asyncpg reads jsonb as text


@pytest.mark.parametrize("size", [2, 250])
async def test_conflict_ignore_returns_the_row_already_stored(pg: asyncpg.Connection, size: int) -> None:
    class UpsertCustomerFactory(CustomerFactory):
        class Meta:
            conflict = "ignore"
            conflict_key = ("email",)

    class RenamingCustomerFactory(CustomerFactory):
        class Meta:
            conflict = "update"
            conflict_key = ("email",)

    with use(postgres=pg):
        first = await CustomerFactory.create_batch(size, name="first")
        again = await UpsertCustomerFactory.create_batch(
            size, email=factory.Iterator([c["email"] for c in first])
        )
        assert [r["id"] for r in again] == [r["id"] for r in first]
        assert {r["name"] for r in again} == {"first"}
        renamed = await RenamingCustomerFactory.create_batch(
            size, name="second", email=factory.Iterator([c["email"] for c in first])
        )
    assert [r["id"] for r in renamed] == [r["id"] for r in first]
    assert {r["name"] for r in renamed} == {"second"}
    assert await pg.fetchval("SELECT count(*) FROM shop.customers") == size


async def test_unknown_field_names_the_columns(pg: asyncpg.Connection) -> None:
    with use(postgres=pg), raises_code(ErrorCode.SEED_UNKNOWN_COLUMN) as caught:
        await CustomerFactory.create(nickname="ada")
    assert caught[0].context["fields"] == "nickname"
    assert caught[0].context["columns"] == "id, name, email, created_at"
    assert await pg.fetchval("SELECT count(*) FROM shop.customers") == 0


async def test_ambiguous_foreign_key_is_refused_and_named_columns_work(pg: asyncpg.Connection) -> None:
    class AmbiguousTransfer(PostgresFactory):
        class Meta:
            table = "shop.transfers"

        party = factory.SubFactory(CustomerFactory)
        target_id = factory.SubFactory(CustomerFactory)

    class TransferFactory(PostgresFactory):
        class Meta:
            table = "shop.transfers"

        source = factory.SubFactory(CustomerFactory)
        target_id = factory.SubFactory(CustomerFactory)

    with use(postgres=pg):
        with raises_code(ErrorCode.SEED_FOREIGN_KEY) as caught:
            await AmbiguousTransfer.create()
        assert "2 foreign keys" in caught[0].context["cause"]
        transfer = await TransferFactory.create()
    assert transfer["source_id"] != transfer["target_id"]


async def test_database_errors_roll_back_the_whole_batch(pg: asyncpg.Connection) -> None:
    with use(postgres=pg):
        with raises_code(ErrorCode.SEED_WRITE_FAILED) as caught:
            await OrderItemFactory.create_batch(5, quantity=factory.Iterator([1, 2, 3, 0, 1]))
        assert "CheckViolation" in caught[0].context["cause"]
        with raises_code(ErrorCode.SEED_INVALID) as invalid:
            await OrderItemFactory.create(total=3)
        assert invalid[0].context["field"] == "total"
    for table in ("shop.order_items", "shop.orders", "shop.customers"):
        assert await pg.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_unknown_table_and_missing_store(pg: asyncpg.Connection) -> None:
    class Nowhere(PostgresFactory):
        class Meta:
            table = "shop.nowhere"

        x = 1

    with use(postgres=pg), raises_code(ErrorCode.SEED_UNKNOWN_TABLE):
        await Nowhere.create()
    with raises_code(ErrorCode.SEED_NO_STORE), use(redis=object()):
        await CustomerFactory.create()


async def test_related_factory_and_async_post_generation_run_after_the_row(pg: asyncpg.Connection) -> None:
    seen: list[dict] = []

    class CustomerWithOrders(CustomerFactory):
        orders = factory.RelatedFactoryList(OrderFactory, factory_related_name="customer", size=2)

        @factory.post_generation
        def audit(obj, create, extracted, **kwargs):
            async def record() -> None:
                seen.append(dict(obj))
                await pg.execute("INSERT INTO shop.audit (what) VALUES ($1)", f"customer {obj['id']}")

            return record()

    with use(postgres=pg):
        customer = await CustomerWithOrders.create()
    assert await pg.fetchval("SELECT count(*) FROM shop.orders WHERE customer_id = $1", customer["id"]) == 2
    assert seen == [customer]
    assert await pg.fetchval("SELECT what FROM shop.audit") == f"customer {customer['id']}"


async def test_traits_params_and_lazy_attributes_of_parents(pg: asyncpg.Connection) -> None:
    class ShippedOrderFactory(OrderFactory):
        class Params:
            shipped = factory.Trait(status="shipped", note={"carrier": "post"})

    class LabelledItemFactory(OrderItemFactory):
        order = factory.SubFactory(ShippedOrderFactory, shipped=True)
        sku = factory.LazyAttribute(lambda item: f"{item.order['status']}-{item.quantity}")

    with use(postgres=pg):
        items = await LabelledItemFactory.create_batch(3)
    statuses = await pg.fetch(
        "SELECT o.status::text, o.note FROM shop.orders o JOIN shop.order_items i ON i.order_id = o.id"
    )
    assert {r["status"] for r in statuses} == {"shipped"}
    assert all(json.loads(r["note"]) == {"carrier": "post"} for r in statuses)
    assert all(item["sku"] == f"shipped-{item['quantity']}" for item in items)
