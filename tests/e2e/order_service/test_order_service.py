"""The demo: the example order service, run as a process, tested through the kit.

The app (examples/order_service/app.py) consumes orders from Kafka, stores them in
PostgreSQL, caches them in Redis and publishes ``orders.stored``. The test class
declares the topics, the migrations and the app; the kit starts the services, creates
the topics, migrates and snapshots the database, starts the app last, and restores
the database between tests (``swap``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from integration_kit import (
    KafkaTestCase,
    PostgresTestCase,
    ProcessService,
    RedisTestCase,
    eventually,
)
from integration_kit.services.namespace import current_worker
from integration_kit.services.process import HttpHealth

APP = Path(__file__).resolve().parents[3] / "examples" / "order_service"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        current_worker() != "main", reason="the example app reads the fixed topic name 'orders'"
    ),
]


class TestOrderService(KafkaTestCase, PostgresTestCase, RedisTestCase):
    kafka_topics = {"orders": 3, "orders.stored": 1}
    postgres_migrations = APP / "migrations"
    postgres_isolation = "swap"
    services = [
        ProcessService(
            name="app",
            command=[sys.executable, str(APP / "app.py")],
            env={
                "DATABASE_URL": "{postgres.dsn}",
                "REDIS_URL": "{redis.url}",
                "KAFKA_BOOTSTRAP_SERVERS": "{kafka.bootstrap_servers}",
                "ORDERS_TOPIC": "orders",
                "PORT": "{port}",
            },
            health=HttpHealth(path="/health"),
        )
    ]

    async def test_an_order_is_stored_cached_and_announced(self) -> None:
        await self.kafka.send("orders", {"id": 7, "sku": "A1", "quantity": 2}, key="7")

        stored = await self.kafka.expect_message("orders.stored", where=lambda m: m.json()["id"] == 7)
        assert stored.key == b"7"
        await self.postgres.assert_rows("orders", [{"id": 7, "sku": "A1", "quantity": 2}])
        cached = await self.redis.get("order:7")
        assert cached is not None and json.loads(cached)["sku"] == "A1"
        await self.redis_kit.assert_ttl("order:7", between=(1, 300))

    async def test_each_test_starts_from_the_snapshot(self) -> None:
        # The previous test's order is gone: the database was restored under the app,
        # whose pool reconnects to the same name.
        assert await self.postgres.fetchval("select count(*) from orders") == 0
        await self.kafka.send("orders", {"id": 8, "sku": "B2"}, key="8")
        await eventually(lambda: self.postgres.fetchval("select count(*) from orders"), equals=1)
        assert await self.redis.exists("order:7") == 0

    async def test_a_duplicate_order_is_stored_once(self) -> None:
        for _ in range(2):
            await self.kafka.send("orders", {"id": 9, "sku": "C3"}, key="9")
        first = await self.kafka.expect_message("orders.stored", where=lambda m: m.json()["id"] == 9)
        await self.kafka.expect_no_message(
            "orders.stored", where=lambda m: m.json()["id"] == 9 and m.offset != first.offset, within=1.0
        )
        assert await self.postgres.fetchval("select count(*) from orders where id = 9") == 1
