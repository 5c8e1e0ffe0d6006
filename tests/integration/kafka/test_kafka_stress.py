"""The must-show: recreate a 3-partition topic and at once produce and consume, many times.

``test_kit_loop_*``: with the kit's readiness steps, zero failures and zero lost messages.
``test_naive_loop_*``: the same loop as suites usually write it (delete, create, start a
consumer and a producer, produce at once; aiokafka defaults, so ``auto_offset_reset="latest"``)
loses messages: in 10 of 20 rounds on the dev broker (Kafka 4.1.1, KRaft, one node) and
8 of 20 on the docker backend. With ``auto_offset_reset="earliest"`` the naive loop lost
nothing in 20-50 rounds on either, so that variant is kept as a measurement in
benchmarks/kafka_readiness.py rather than as a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from integration_kit.kafka import (
    admin_client,
    create_test_consumer,
    setup_kafka_topics,
    subscribe_with_backoff,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROUNDS = 50
MESSAGES = 30
NAIVE_MAX_ROUNDS = 30
NaiveTopic = Callable[..., str]


async def _produce(
    servers: str, topic: str, tag: str, producer: AIOKafkaProducer | None = None
) -> set[bytes]:
    own = producer is None
    if producer is None:
        producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
        await producer.start()
    try:
        values = {f"{tag}-{i}".encode() for i in range(MESSAGES)}
        await asyncio.gather(*(producer.send_and_wait(topic, v, key=v) for v in values))
        return values
    finally:
        if own:
            await producer.stop()


async def _drain(consumer: AIOKafkaConsumer, want: int, *, within: float) -> set[bytes]:
    got: set[bytes] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(got) < want and loop.time() < deadline:
        batches = await consumer.getmany(timeout_ms=100)
        got.update(r.value for records in batches.values() for r in records)
    return got


async def _kit_round(servers: str, admin: AIOKafkaAdminClient, topic: str, tag: str) -> tuple[int, int]:
    """Kit steps: setup (delete, wait, create, wait ready), then at once a fresh consumer and a producer."""
    await setup_kafka_topics(admin, {topic: 3})

    async def consume() -> set[bytes]:
        consumer = await create_test_consumer(servers, topic)
        try:
            return await _drain(consumer, MESSAGES, within=15)
        finally:
            await consumer.stop()

    got, sent = await asyncio.gather(consume(), _produce(servers, topic, tag))
    return len(sent), len(sent - got)


async def test_kit_loop_recreate_produce_consume_50_times(kafka_servers: str, new_topic: NaiveTopic) -> None:
    topic = new_topic("stress")
    failures: list[str] = []
    lost_total = 0
    async with admin_client(kafka_servers) as admin:
        for round_ in range(ROUNDS):
            try:
                sent, lost = await _kit_round(kafka_servers, admin, topic, f"r{round_}")
            except Exception as exc:
                failures.append(f"round {round_}: {exc!r}")
                continue
            assert sent == MESSAGES
            lost_total += lost
            if lost:
                failures.append(f"round {round_}: lost {lost}")
    assert failures == [] and lost_total == 0


async def test_kit_steps_also_fix_latest_offset_reset(kafka_servers: str, new_topic: NaiveTopic) -> None:
    # The naive loop's losses come from producing before the consumer owns its partitions and
    # knows its start offsets; wait_for_assignment closes that gap even for "latest".
    topic = new_topic("latest")
    async with admin_client(kafka_servers) as admin:
        for round_ in range(20):
            await setup_kafka_topics(admin, {topic: 3})
            consumer = await create_test_consumer(kafka_servers, auto_offset_reset="latest")
            try:
                await subscribe_with_backoff(consumer, [topic])
                sent = await _produce(kafka_servers, topic, f"r{round_}")
                got = await _drain(consumer, MESSAGES, within=15)
            finally:
                await consumer.stop()
            assert sent == got, f"round {round_}: lost {len(sent - got)}"


async def _naive_round(servers: str, admin: AIOKafkaAdminClient, topic: str, tag: str) -> str | None:
    """What suites usually do: no waiting for deletion, readiness or assignment."""
    with contextlib.suppress(Exception):
        await admin.delete_topics([topic])
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    except Exception as exc:
        return f"create failed: {exc!r}"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=servers, group_id=f"naive-{uuid.uuid4().hex}")
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
    await asyncio.gather(consumer.start(), producer.start())
    try:
        sent, got = await asyncio.gather(
            _produce(servers, topic, tag, producer), _drain(consumer, MESSAGES, within=2)
        )
    except Exception as exc:
        return f"error: {exc!r}"
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())
    return f"lost {len(sent - got)} of {len(sent)}" if sent - got else None


async def test_naive_loop_loses_messages(kafka_servers: str, new_topic: NaiveTopic) -> None:
    topic = new_topic("naive")
    outcomes: list[str | None] = []
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_servers)
    await admin.start()
    try:
        for round_ in range(NAIVE_MAX_ROUNDS):
            outcomes.append(await _naive_round(kafka_servers, admin, topic, f"r{round_}"))
            if outcomes[-1] is not None:
                break
    finally:
        await admin.close()
    failures = [o for o in outcomes if o is not None]
    assert failures, f"the naive loop never failed in {len(outcomes)} rounds"
