"""The worker against the kit's mocks: an in-memory Kafka, a Redis on a virtual clock."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka.errors import CommitFailedError
from hypothesis import given, settings
from hypothesis import strategies as st
from orders import worker as worker_module
from orders.config import Config
from orders.contracts import ORDER_CONFIRMED
from orders.domain import InvalidOrder, PlacedOrder, read_placed_order
from orders.worker import Worker, make_consumer, make_producer

from integration_kit import eventually
from integration_kit.mocks import KafkaChaos, MockKafkaCluster, MockRedisClient, VirtualClock, patch_aiokafka
from tests.unit.fakes import InMemoryStore

pytestmark = pytest.mark.unit

CONFIG = Config(database_url="unused", redis_url="unused", kafka_bootstrap_servers="mock:9092")
ORDERS = [PlacedOrder(id=n, customer="ada", sku="A1", quantity=2) for n in range(1, 7)]


def new_cluster(*, partitions: int = 1, chaos: KafkaChaos | None = None) -> MockKafkaCluster:
    """A mock cluster with the service's topics, and no auto-creation (as in production)."""
    cluster = MockKafkaCluster(auto_create_topics=False, chaos=chaos)
    cluster.create_topic("orders", partitions)
    cluster.create_topic("orders.confirmed", 1)
    cluster.create_topic("orders.dlq", 1)
    return cluster


async def run_worker(
    cluster: MockKafkaCluster, store: InMemoryStore, redis: MockRedisClient, *, until: int
) -> Worker:
    """Run the worker on the mock cluster until ``until`` records were handled or dead-lettered."""
    with patch_aiokafka(cluster, worker_module):
        producer = make_producer(CONFIG)
        consumer = make_consumer(CONFIG)
        await producer.start()
        await consumer.start()
        worker = Worker(config=CONFIG, store=store, redis=redis, producer=producer)
        task = asyncio.create_task(worker.run(consumer))
        try:
            await eventually(lambda: worker.handled + worker.dead_lettered, equals=until, timeout=5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
    return worker


async def publish(cluster: MockKafkaCluster, *values: bytes) -> None:
    async with cluster.producer() as producer:
        for value in values:
            await producer.send_and_wait("orders", value, key=b"k")


async def test_an_order_is_reserved_cached_with_its_ttl_and_confirmed() -> None:
    cluster, clock = new_cluster(partitions=3), VirtualClock()
    redis = MockRedisClient(clock=clock, decode_responses=True)
    store = InMemoryStore({"A1": 10}, ORDERS[:1])
    await publish(cluster, ORDERS[0].to_json())

    await run_worker(cluster, store, redis, until=1)

    (confirmed,) = cluster.records("orders.confirmed")
    ORDER_CONFIRMED.verify_record(confirmed)
    assert json.loads(confirmed.value)["stock_left"] == 8
    assert await redis.ttl("order:1") == CONFIG.cache_ttl_s
    clock.advance(CONFIG.cache_ttl_s)
    assert await redis.get("order:1") is not None  # alive through its last millisecond
    clock.advance(0.001)
    assert await redis.get("order:1") is None


async def test_an_order_beyond_the_stock_is_rejected_and_keeps_the_stock() -> None:
    cluster = new_cluster()
    store = InMemoryStore({"A1": 1}, ORDERS[:1])
    await publish(cluster, ORDERS[0].to_json())
    await run_worker(cluster, store, MockRedisClient(clock=VirtualClock()), until=1)
    assert json.loads(cluster.records("orders.confirmed")[0].value)["status"] == "rejected"
    assert store.stock == {"A1": 1}


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"id": "7"}',
        b'{"id": 1, "customer": "ada", "sku": "A1", "quantity": 0}',
        b'{"id": 99, "customer": "ada", "sku": "A1", "quantity": 2}',
        b"\xff\xfe",
        b'{"id": true}',
    ],
)
async def test_what_is_not_a_known_order_goes_to_the_dead_letter_topic(value: bytes) -> None:
    cluster = new_cluster()
    store = InMemoryStore({"A1": 10}, ORDERS[:1])
    await publish(cluster, value)
    worker = await run_worker(cluster, store, MockRedisClient(clock=VirtualClock()), until=1)
    (dead,) = cluster.records("orders.dlq")
    assert dead.value == value and dict(dead.headers)["error"]
    assert worker.handled == 0 and store.stock == {"A1": 10}
    assert cluster.records("orders.confirmed") == []


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=80),
        st.dictionaries(
            st.text(max_size=8),
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
            max_size=5,
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_reading_a_message_either_gives_an_order_or_says_why_not(value: bytes) -> None:
    try:
        order = read_placed_order(value)
    except InvalidOrder as exc:
        assert exc.errors
    else:
        assert read_placed_order(order.to_json()) == order


async def test_under_duplicates_reordering_and_failed_commits_stock_is_reserved_once_per_order() -> None:
    chaos = KafkaChaos(seed=16, duplicate=0.3, reorder=0.2, commit_errors=0.3, topics=frozenset({"orders"}))
    cluster = new_cluster(partitions=2, chaos=chaos)
    redis = MockRedisClient(clock=VirtualClock())
    store = InMemoryStore({"A1": 100}, ORDERS)
    await publish(cluster, *(order.to_json() for order in ORDERS))
    delivered = len(cluster.records("orders"))
    assert delivered > len(ORDERS)  # the chaos duplicated some

    crashes = 0
    for _ in range(20):  # a crashed worker is restarted, as a supervisor would
        try:
            await run_until_caught_up(cluster, store, redis)
            break
        except CommitFailedError:
            crashes += 1
    assert crashes > 0, "the chaos should have failed a commit"
    assert store.stock == {"A1": 100 - 2 * len(ORDERS)}  # each order reserved once
    confirmed = {json.loads(r.value)["id"] for r in cluster.records("orders.confirmed")}
    assert confirmed == {order.id for order in ORDERS}
    assert all(json.loads(r.value)["status"] == "confirmed" for r in cluster.records("orders.confirmed"))


async def run_until_caught_up(
    cluster: MockKafkaCluster, store: InMemoryStore, redis: MockRedisClient
) -> None:
    """Run the worker until its group has committed the end of ``orders``; a failed commit raises."""
    with patch_aiokafka(cluster, worker_module):
        producer, consumer = make_producer(CONFIG), make_consumer(CONFIG)
        await producer.start()
        await consumer.start()
        worker = Worker(config=CONFIG, store=store, redis=redis, producer=producer)
        task = asyncio.create_task(worker.run(consumer))
        try:
            ends = {tp.partition: end for tp, end in cluster.end_offsets("orders").items()}
            while not task.done():
                committed = {
                    tp.partition: meta.offset for tp, meta in cluster.committed(CONFIG.group_id).items()
                }
                if all(committed.get(p, 0) >= end for p, end in ends.items()):
                    break
                await asyncio.sleep(0.01)
            if task.done():
                task.result()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await consumer.stop()
            await producer.stop()
