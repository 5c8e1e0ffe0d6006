"""The service's PostgreSQL and Redis code against the real servers (base classes)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import orders
import pytest
from orders.cache import cache_order, cached_order
from orders.domain import NewOrder, PlacedOrder, Reservation
from orders.store import PostgresStore, UnknownOrder, UnknownProduct

from integration_kit import PostgresTestCase, RedisTestCase
from tests.factories import CATALOG_STOCK, open_orders

pytestmark = pytest.mark.integration

MIGRATIONS = Path(orders.__file__).parent / "migrations"


class TestStore(PostgresTestCase):
    postgres_migrations = MIGRATIONS
    postgres_seed = [open_orders]  # and catalog, which it requires
    postgres_isolation = "template"  # the store opens connections of its own

    async def ik_setup(self, ctx) -> None:  # type: ignore[no-untyped-def]
        await super().ik_setup(ctx)
        self.store = await PostgresStore.connect(self.postgres.dsn)

    async def ik_teardown(self, ctx) -> None:  # type: ignore[no-untyped-def]
        await self.store.close()
        await super().ik_teardown(ctx)

    async def stock(self, sku: str) -> int:
        return await self.postgres.fetchval("SELECT stock FROM products WHERE sku = $1", sku)

    async def test_every_test_starts_from_the_seeded_catalog(self) -> None:
        for sku, stock in CATALOG_STOCK.items():
            assert await self.stock(sku) == stock
        assert await self.postgres.fetchval("SELECT count(*) FROM products") == 23
        assert await self.postgres.fetchval("SELECT count(*) FROM orders WHERE status = 'pending'") == 3

    @pytest.mark.parametrize(
        "customer", ["Ada", "O'Brien; DROP TABLE orders;--", "名前", "x" * 200, "😀\t\n"]
    )
    async def test_an_order_is_stored_exactly_as_placed(self, customer: str) -> None:
        placed = await self.store.place(NewOrder(customer=customer, sku="A1", quantity=3))
        assert await self.store.order(placed.id) == {
            "id": placed.id,
            "customer": customer,
            "sku": "A1",
            "quantity": 3,
            "status": "pending",
        }

    async def test_an_unknown_product_is_refused(self) -> None:
        with pytest.raises(UnknownProduct):
            await self.store.place(NewOrder(customer="ada", sku="NOPE", quantity=1))
        assert await self.postgres.fetchval("SELECT count(*) FROM orders WHERE sku = 'NOPE'") == 0

    async def test_a_reservation_is_made_once_however_often_it_is_asked_for(self) -> None:
        placed = await self.store.place(NewOrder(customer="ada", sku="A1", quantity=4))
        decisions = await asyncio.gather(*(self.store.reserve(placed) for _ in range(8)))
        assert {d.outcome for d in decisions} == {"confirmed"}
        assert await self.stock("A1") == 6
        assert await self.postgres.fetchval("SELECT count(*) FROM reservations") == 1

    async def test_the_last_item_goes_to_one_order_only(self) -> None:
        placed = [await self.store.place(NewOrder(customer=f"c{n}", sku="B2", quantity=1)) for n in range(5)]
        decisions = await asyncio.gather(*(self.store.reserve(order) for order in placed))
        assert sorted(d.outcome for d in decisions) == ["confirmed"] + ["rejected"] * 4
        assert await self.stock("B2") == 0
        statuses = await self.postgres.fetch(
            "SELECT status, count(*) FROM orders WHERE sku = 'B2' GROUP BY 1"
        )
        assert {r["status"]: r["count"] for r in statuses} == {"confirmed": 1, "rejected": 4}

    async def test_an_order_the_database_does_not_have_is_refused(self) -> None:
        with pytest.raises(UnknownOrder):
            await self.store.reserve(PlacedOrder(id=10**12, customer="ada", sku="A1", quantity=1))
        seeded = await self.postgres.fetchrow("SELECT * FROM orders ORDER BY id LIMIT 1")
        with pytest.raises(UnknownOrder):  # the message disagrees with what was stored
            await self.store.reserve(PlacedOrder(id=seeded["id"], customer="grace", sku="A1", quantity=9))
        assert await self.stock("A1") == 10

    async def test_the_stock_never_goes_negative(self) -> None:
        with pytest.raises(asyncpg.CheckViolationError):
            await self.postgres.execute("UPDATE products SET stock = -1 WHERE sku = 'A1'")


class TestCache(RedisTestCase):
    async def test_a_decided_order_is_cached_with_its_ttl(self) -> None:
        reservation = Reservation(order_id=7, sku="A1", quantity=2, outcome="confirmed", stock_left=8)
        await cache_order(self.redis, reservation, ttl_s=300)
        await self.redis_kit.assert_ttl("order:7", between=(299, 300))
        assert await cached_order(self.redis, 7) == reservation.confirmed_event()
        assert json.loads(await self.redis.get("order:7"))["status"] == "confirmed"

    async def test_each_test_starts_with_an_empty_cache(self) -> None:
        assert await self.redis.dbsize() == 0
        assert await cached_order(self.redis, 7) is None
