"""Scenarios as class seeds: one cross-store scenario in the PostgreSQL and Redis snapshots.

Each class has two tests that both change every store and check that they start from
the seeded state: whichever runs second would fail without the restores.
"""

from __future__ import annotations

import asyncpg
import factory

from integration_kit.kafka.testcase import KafkaTestCase
from integration_kit.postgres.testcase import PostgresTestCase
from integration_kit.redis.testcase import RedisTestCase
from integration_kit.seeding import KafkaMessageFactory, PostgresFactory, RedisFactory, scenario

SCHEMA = """
CREATE TABLE products (id serial PRIMARY KEY, sku text UNIQUE NOT NULL, cents int NOT NULL);
CREATE TABLE stock (
    id serial PRIMARY KEY, product_id int NOT NULL REFERENCES products, quantity int NOT NULL);
"""


async def migrate(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


class ProductFactory(PostgresFactory):
    class Meta:
        table = "products"

    sku = factory.Sequence(lambda n: f"SKU-{n:03d}")
    cents = factory.Faker("pyint", min_value=100, max_value=999)


class StockFactory(PostgresFactory):
    class Meta:
        table = "stock"

    product = factory.SubFactory(ProductFactory)
    quantity = 10


class PriceEventFactory(KafkaMessageFactory):
    class Meta:
        topic = "prices"
        key = "sku"

    sku = factory.Sequence(lambda n: f"SKU-{n:03d}")
    cents = 100


class ProductCacheFactory(RedisFactory):
    class Meta:
        key = "product:{sku}"
        type = "hash"
        ttl = 600

    sku = factory.Sequence(lambda n: f"SKU-{n:03d}")
    cents = 100


@scenario
async def products(ctx):
    return await ProductFactory.create_batch(4)


@scenario("catalog", requires=["products"])
async def catalog(ctx):
    stock = await StockFactory.create_batch(4, product=factory.Iterator(ctx["products"]))
    await PriceEventFactory.send_batch(4)
    await ProductCacheFactory.create_batch(4)
    return stock


@scenario
async def sessions(ctx):
    class SessionFactory(RedisFactory):
        class Meta:
            key = "session:{n}"
            type = "string"
            value = "user"

        n = factory.Sequence(int)
        user = factory.Faker("user_name")

    return await SessionFactory.create_batch(3)


class _Checks:
    async def _changes_everything(self) -> None:
        await self.postgres.execute("DELETE FROM stock")
        await self.postgres.execute("UPDATE products SET cents = 0")
        await self.redis.flushdb()
        await self.redis.set("junk", "1")

    async def _starts_from_the_seed(self) -> None:
        assert await self.postgres.fetchval("SELECT count(*) FROM stock") == 4
        assert await self.postgres.fetchval("SELECT count(*) FROM products WHERE cents >= 100") == 4
        joined = await self.postgres.fetchval(
            "SELECT count(*) FROM stock s JOIN products p ON p.id = s.product_id"
        )
        assert joined == 4
        assert sorted(await self.redis.keys("product:*")) == [f"product:SKU-00{i}".encode() for i in range(4)]
        assert 500 < await self.redis.ttl("product:SKU-000") <= 600
        assert len(await self.redis.keys("session:*")) == 3
        assert await self.redis.get("junk") is None

    async def test_one(self) -> None:
        await self._starts_from_the_seed()
        await self._changes_everything()

    async def test_two(self) -> None:
        await self._starts_from_the_seed()
        await self._changes_everything()


class TestCrossStoreSnapshots(_Checks, PostgresTestCase, RedisTestCase, KafkaTestCase):
    postgres_migrations = migrate
    postgres_isolation = "template"
    postgres_seed = [catalog]
    redis_seed = [sessions]
    kafka_topics = {"prices": 1}

    async def test_kafka_has_the_seeded_messages(self) -> None:
        consumer = await self.kafka.consumer("prices")
        batches = await consumer.getmany(timeout_ms=5000)
        keys = [r.key for records in batches.values() for r in records]
        assert keys == [f"SKU-00{i}".encode() for i in range(4)]


class TestBasesInTheOtherOrder(_Checks, KafkaTestCase, RedisTestCase, PostgresTestCase):
    """Redis and Kafka set up after PostgreSQL in the MRO: the scenario still sees them."""

    postgres_migrations = migrate
    postgres_seed = [catalog]
    redis_seed = [sessions]
    kafka_topics = {"prices": 1}
    kafka_topic_scope = "function"

    async def test_fresh_topics_get_the_seeded_messages_again(self) -> None:
        messages = await self.kafka.messages("prices")
        assert [m.key for m in messages] == [f"SKU-00{i}".encode() for i in range(4)]


@scenario("stock", requires=["products"])
async def stock(ctx):
    return await StockFactory.create_batch(4, product=factory.Iterator(ctx["products"]))


class TestPostgresOnly(PostgresTestCase):
    """Scenarios listed together share one run: ``products`` is seeded once, not twice."""

    postgres_migrations = migrate
    postgres_seed = [products, stock]

    async def test_each_scenario_ran_once(self) -> None:
        assert await self.postgres.fetchval("SELECT count(*) FROM products") == 4
        assert await self.postgres.fetchval("SELECT count(DISTINCT product_id) FROM stock") == 4
