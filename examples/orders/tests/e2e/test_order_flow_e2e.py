"""End to end: orders placed over HTTP, handled by the worker, read back over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from orders.contracts import ORDER_CONFIRMED, ORDER_PLACED

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase, eventually
from integration_kit.kafka.messages import Message
from tests.e2e.services import API, MIGRATIONS, TOPICS, WORKER
from tests.factories import catalog

pytestmark = pytest.mark.e2e


class TestOrderFlow(KafkaTestCase, PostgresTestCase, RedisTestCase):
    kafka_topics = TOPICS
    postgres_migrations = MIGRATIONS
    postgres_seed = [catalog]
    postgres_isolation = "swap"  # restored under the running app between tests
    services = [API, WORKER]

    @pytest.fixture
    async def http(self) -> AsyncIterator[httpx.AsyncClient]:
        async with httpx.AsyncClient(base_url=self.api.url, timeout=10) as client:
            yield client

    async def place(self, http: httpx.AsyncClient, **order: object) -> int:
        response = await http.post("/orders", json={"customer": "ada", **order})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def confirmation(self, order_id: int) -> Message:
        return await self.kafka.expect_message(
            "orders.confirmed", where=lambda m: m.json()["id"] == order_id, within=20
        )

    async def stock(self, sku: str) -> int:
        return await self.postgres.fetchval("SELECT stock FROM products WHERE sku = $1", sku)

    async def test_an_order_is_confirmed_cached_and_read_back(self, http: httpx.AsyncClient) -> None:
        order_id = await self.place(http, sku="A1", quantity=3)

        placed = await self.kafka.expect_message("orders", where=ORDER_PLACED.assert_matches, within=10)
        assert placed.json()["id"] == order_id
        confirmed = await self.confirmation(order_id)
        ORDER_CONFIRMED.verify_record(confirmed)
        assert confirmed.json() == {
            "id": order_id,
            "sku": "A1",
            "quantity": 3,
            "status": "confirmed",
            "stock_left": 7,
        }
        assert await self.stock("A1") == 7
        await self.redis_kit.assert_ttl(f"order:{order_id}", between=(1, 300))
        response = await http.get(f"/orders/{order_id}")
        assert response.json() | {"source": "cache"} == response.json()
        assert response.json()["status"] == "confirmed"

    async def test_every_test_starts_from_the_snapshot(self, http: httpx.AsyncClient) -> None:
        assert await self.stock("A1") == 10  # the previous test's reservation is gone
        assert await self.postgres.fetchval("SELECT count(*) FROM orders") == 0
        assert await self.redis.dbsize() == 0

    async def test_more_than_the_stock_is_rejected(self, http: httpx.AsyncClient) -> None:
        first = await self.place(http, sku="B2", quantity=1)
        second = await self.place(http, sku="B2", quantity=1)
        assert (await self.confirmation(first)).json()["status"] == "confirmed"
        assert (await self.confirmation(second)).json()["status"] == "rejected"
        assert await self.stock("B2") == 0
        response = await http.get(f"/orders/{second}")
        assert response.json()["status"] == "rejected"

    @pytest.mark.parametrize(
        "body",
        [
            {"sku": "A1", "quantity": 0},
            {"sku": "A1", "quantity": True},
            {"sku": "", "quantity": 1},
            {"sku": "A1", "quantity": 1, "price": 0},
            {"sku": "A1", "quantity": 10**6},
        ],
    )
    async def test_a_body_that_is_not_an_order_is_refused(self, http: httpx.AsyncClient, body: dict) -> None:
        response = await http.post("/orders", json={"customer": "ada", **body})
        assert response.status_code == 400 and response.json()["errors"]
        assert await self.postgres.fetchval("SELECT count(*) FROM orders") == 0

    async def test_an_unknown_product_is_refused(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/orders", json={"customer": "ada", "sku": "NOPE", "quantity": 1})
        assert response.status_code == 422
        await self.kafka.expect_no_message("orders", within=0.5)

    async def test_a_message_that_is_not_an_order_goes_to_the_dead_letter_topic(
        self, http: httpx.AsyncClient
    ) -> None:
        await self.kafka.send("orders", b'{"id": "not a number"}', key="x")
        dead = await self.kafka.expect_message("orders.dlq", within=20)
        assert b"InvalidOrder" in dict(dead.headers)["error"]
        # ... and the worker keeps going.
        order_id = await self.place(http, sku="A1", quantity=1)
        assert (await self.confirmation(order_id)).json()["status"] == "confirmed"

    async def test_a_redelivered_order_reserves_its_stock_once(self, http: httpx.AsyncClient) -> None:
        order_id = await self.place(http, sku="A1", quantity=4)
        placed = await self.kafka.expect_message("orders", where=lambda m: m.json()["id"] == order_id)
        await self.kafka.send("orders", placed.value, key=str(order_id))  # a producer retry

        async def confirmations() -> int:
            found = [m for m in await self.kafka.messages("orders.confirmed") if m.json()["id"] == order_id]
            assert len(found) == 2
            return len(found)

        await eventually(confirmations, timeout=20)
        assert await self.stock("A1") == 6

    async def test_an_order_not_in_the_cache_is_read_from_the_database(self, http: httpx.AsyncClient) -> None:
        order_id = await self.place(http, sku="A1", quantity=1)
        await self.confirmation(order_id)
        await self.redis.delete(f"order:{order_id}")  # expired
        response = await http.get(f"/orders/{order_id}")
        assert response.json()["source"] == "database" and response.json()["status"] == "confirmed"
        assert (await http.get("/orders/123456789")).status_code == 404
