"""``integration-kit seed`` against real PostgreSQL, Redis and Kafka."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner

from integration_kit.cli import main
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

MODULE = '''
import factory
from integration_kit.seeding import KafkaMessageFactory, PostgresFactory, RedisFactory, scenario

class CustomerFactory(PostgresFactory):
    class Meta:
        table = "customers"
    name = factory.Faker("name")

class OrderFactory(PostgresFactory):
    class Meta:
        table = "orders"
    customer = factory.SubFactory(CustomerFactory)
    cents = factory.Faker("pyint", min_value=1, max_value=10000)

class OrderEventFactory(KafkaMessageFactory):
    class Meta:
        topic = "TOPIC"
    n = factory.Sequence(int)

class CacheFactory(RedisFactory):
    class Meta:
        key = "PREFIX:{n}"
        value = "value"
    n = factory.Sequence(int)
    value = "cached"

@scenario
async def customers(ctx):
    """Twenty customers."""
    return await CustomerFactory.create_batch(20)

@scenario("orders", requires=["customers"])
async def orders(ctx):
    """Orders of the customers, events and cache entries."""
    await OrderEventFactory.send_batch(3)
    await CacheFactory.create_batch(2)
    return await OrderFactory.create_batch(300, customer=factory.Iterator(ctx["customers"]))
'''

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (
    id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, cents int NOT NULL);
"""


@pytest.fixture
def scenarios_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    token = uuid.uuid4().hex[:8]
    topic, prefix, name = f"ik-seedcli.{token}", f"ik:seedcli:{token}", f"seed_scenarios_{token}"
    (tmp_path / f"{name}.py").write_text(MODULE.replace("TOPIC", topic).replace("PREFIX", prefix))
    monkeypatch.chdir(tmp_path)
    yield name, topic, prefix
    sys.modules.pop(name, None)


async def _dump(dsn: str) -> list[tuple]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT c.name, o.cents FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id"
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def test_seed_writes_the_scenario_and_its_requirements(
    scenarios_module: tuple[str, str, str],
    database_dsn: str,
    empty_pg: asyncpg.Connection,
    ik_redis: Endpoint,
    ik_kafka: Endpoint,
) -> None:
    from redis.asyncio import Redis

    from integration_kit.kafka.handle import KafkaHandle
    from integration_kit.kafka.topics import create_topics, delete_topics

    module, topic, prefix = scenarios_module
    await empty_pg.execute(SCHEMA)
    await create_topics(ik_kafka.bootstrap_servers, [topic], timeout=30)
    redis_url = f"redis://{ik_redis.address}/0"
    runner = CliRunner()
    try:
        listed = await asyncio.to_thread(runner.invoke, main, ["seed", "--list", "--module", module])
        assert listed.exit_code == 0, listed.output
        assert "customers" in listed.output and "Orders of the customers" in listed.output
        args = ["seed", "orders", "--module", module, "--postgres-dsn", database_dsn]
        args += ["--redis-url", redis_url, "--kafka", ik_kafka.bootstrap_servers, "--seed", "5"]
        result = await asyncio.to_thread(runner.invoke, main, args)
        assert result.exit_code == 0, result.output
        assert "300" in result.output
        first = await _dump(database_dsn)
        assert len(first) == 300 and len({name for name, _ in first}) <= 20
        client = Redis.from_url(redis_url)
        try:
            assert (
                await client.get(f"{prefix}:0") == b"cached" and await client.get(f"{prefix}:1") == b"cached"
            )
            await client.delete(f"{prefix}:0", f"{prefix}:1")
        finally:
            await client.aclose()
        async with KafkaHandle(ik_kafka.bootstrap_servers, topics={topic: topic}) as kafka:
            assert [m.json() for m in await kafka.messages(topic)] == [{"n": 0}, {"n": 1}, {"n": 2}]
        # the same seed gives the same data (what the tests get); the scenario runs again
        await empty_pg.execute("TRUNCATE customers, orders RESTART IDENTITY")
        again = await asyncio.to_thread(
            runner.invoke,
            main,
            ["seed", "orders", "--module", module, "--postgres-dsn", database_dsn, "--seed", "5"],
        )
        assert again.exit_code == 1  # no Kafka / Redis given: the scenario needs them
        assert "IK-SEED-NO-STORE" in again.output
        assert await empty_pg.fetchval("SELECT count(*) FROM customers") == 0  # rolled back
        args[-1] = "5"
        assert (await asyncio.to_thread(runner.invoke, main, args)).exit_code == 0
        assert await _dump(database_dsn) == first
    finally:
        await delete_topics(ik_kafka.bootstrap_servers, [topic], wait=False)


def test_seed_errors_have_codes_and_hide_credentials(scenarios_module: tuple[str, str, str]) -> None:
    module, _, _ = scenarios_module
    runner = CliRunner()
    unknown = runner.invoke(main, ["seed", "nothing", "--module", module])
    assert unknown.exit_code == 1 and "IK-SEED-UNKNOWN-SCENARIO" in unknown.output
    bad_seed = runner.invoke(main, ["seed", "orders", "--module", module, "--seed", "x"])
    assert bad_seed.exit_code == 1 and "IK-SEED-INVALID-SEED" in bad_seed.output
    dsn = "postgresql://admin:s3cret-pw@127.0.0.1:1/nowhere"
    unreachable = runner.invoke(main, ["seed", "customers", "--module", module, "--postgres-dsn", dsn])
    assert unreachable.exit_code == 1
    assert "s3cret-pw" not in unreachable.output
