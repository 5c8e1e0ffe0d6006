"""The worker in the test process against real Kafka, PostgreSQL and Redis (base classes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import orders
import pytest
from orders.config import Config
from orders.contracts import ORDER_CONFIRMED
from orders.domain import NewOrder
from orders.store import PostgresStore
from orders.worker import Worker, make_consumer, make_producer

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase, eventually
from tests.factories import PlacedOrderMessageFactory, catalog

pytestmark = pytest.mark.integration


class TestWorker(KafkaTestCase, PostgresTestCase, RedisTestCase):
    kafka_topics = {"orders": 2, "orders.confirmed": 1, "orders.dlq": 1}
    postgres_migrations = Path(orders.__file__).parent / "migrations"
    postgres_seed = [catalog]
    postgres_isolation = "template"

    @pytest.fixture
    async def worker(self) -> AsyncIterator[Worker]:
        config = Config(
            database_url=self.postgres.dsn,
            redis_url="unused",
            kafka_bootstrap_servers=self.kafka.bootstrap_servers,
            orders_topic=self.kafka.topic("orders"),
            confirmed_topic=self.kafka.topic("orders.confirmed"),
            dlq_topic=self.kafka.topic("orders.dlq"),
            group_id=f"worker-{self.kafka.topic('orders')}",
        )
        store = await PostgresStore.connect(config.database_url)
        producer, consumer = make_producer(config), make_consumer(config)
        await producer.start()
        await consumer.start()
        worker = Worker(config=config, store=store, redis=self.redis, producer=producer)
        task = asyncio.create_task(worker.run(consumer))
        yield worker
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
        await store.close()

    async def test_a_stored_order_is_reserved_cached_and_confirmed(self, worker: Worker) -> None:
        store = worker.store
        assert isinstance(store, PostgresStore)
        placed = await store.place(NewOrder(customer="ada", sku="A1", quantity=3))
        await self.kafka.send("orders", placed.to_json(), key=str(placed.id))

        message = await self.kafka.expect_message(
            "orders.confirmed", where=lambda m: m.json()["id"] == placed.id, within=20
        )
        ORDER_CONFIRMED.verify_record(message)
        assert message.json()["stock_left"] == 7
        assert json.loads(await self.redis.get(f"order:{placed.id}"))["status"] == "confirmed"
        await self.redis_kit.assert_ttl(f"order:{placed.id}", between=(1, worker.config.cache_ttl_s))

    async def test_a_replayed_message_changes_nothing(self, worker: Worker) -> None:
        store = worker.store
        assert isinstance(store, PostgresStore)
        placed = await store.place(NewOrder(customer="ada", sku="A1", quantity=2))
        for _ in range(3):  # a producer retry, a replay after a crash...
            await PlacedOrderMessageFactory.send(id=placed.id, customer="ada", sku="A1", quantity=2)

        await eventually(lambda: worker.handled, equals=3, timeout=20)
        assert await self.postgres.fetchval("SELECT stock FROM products WHERE sku = 'A1'") == 8

        async def confirmations() -> list[bytes]:
            found = await self.kafka.messages("orders.confirmed")
            assert len(found) == 3
            return [m.value for m in found]

        assert len(set(await eventually(confirmations, timeout=20))) == 1  # one decision, three times

    async def test_garbage_goes_to_the_dead_letter_topic(self, worker: Worker) -> None:
        await self.kafka.send("orders", b"\x00garbage", key="x")
        dead = await self.kafka.expect_message("orders.dlq", within=20)
        assert dead.value == b"\x00garbage"
        assert b"InvalidOrder" in dict(dead.headers)["error"]
