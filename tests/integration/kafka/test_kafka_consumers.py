"""Consumer start: subscribe with backoff, wait for assignment, the test-consumer factory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import (
    KafkaHandle,
    create_test_consumer,
    create_topics,
    open_test_consumer,
    setup_kafka_topics,
    subscribe_with_backoff,
    wait_for_assignment,
)
from integration_kit.kafka.admin import admin_client, describe_topics_everywhere

pytestmark = pytest.mark.integration
NewTopic = Callable[..., str]
SLACK = 2.0


async def test_test_consumer_owns_every_partition_and_reads_from_earliest(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("factory")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    async with KafkaHandle(kafka_servers) as kafka:
        await kafka.send(topic, b"before", partition=2)
    async with open_test_consumer(kafka_servers, topic) as consumer:
        assert consumer.assignment() == {TopicPartition(topic, p) for p in range(3)}
        record = await asyncio.wait_for(consumer.getone(), 10)
        assert record.value == b"before"


async def test_each_test_consumer_has_its_own_group(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("groups")
    await setup_kafka_topics(kafka_servers, {topic: 2})
    async with (
        open_test_consumer(kafka_servers, topic) as first,
        open_test_consumer(kafka_servers, topic) as second,
    ):
        assert first._group_id != second._group_id
        assert len(first.assignment()) == len(second.assignment()) == 2


async def test_latest_consumer_sees_what_is_sent_after_assignment(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    # wait_for_assignment also resolves the start offsets: "latest" no longer races the producer
    topic = new_topic("latest")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    async with (
        open_test_consumer(kafka_servers, topic, auto_offset_reset="latest") as consumer,
        KafkaHandle(kafka_servers) as kafka,
    ):
        for i in range(9):
            await kafka.send(topic, str(i), partition=i % 3)
        got: set[bytes] = set()
        while len(got) < 9:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=200), 10)
            got.update(r.value for records in batches.values() for r in records)
        assert got == {str(i).encode() for i in range(9)}


async def test_subscribe_waits_for_a_topic_created_later(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("later")
    consumer = await create_test_consumer(kafka_servers)
    try:

        async def create_soon() -> None:
            await asyncio.sleep(0.3)
            await create_topics(kafka_servers, {topic: 3})

        creator = asyncio.create_task(create_soon())
        assigned = await subscribe_with_backoff(consumer, [topic], timeout=15)
        await creator
        assert assigned == {TopicPartition(topic, p) for p in range(3)}
    finally:
        await consumer.stop()


async def test_subscribe_to_a_missing_topic_times_out_without_creating_it(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("never")
    consumer = await create_test_consumer(kafka_servers)
    try:
        started = time.monotonic()
        with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY) as caught:
            await subscribe_with_backoff(consumer, [topic], timeout=0.5)
        assert time.monotonic() - started < 0.5 + SLACK
        assert caught[0].context["topics"] == [topic]
    finally:
        await consumer.stop()
    async with admin_client(kafka_servers) as admin:
        views = await describe_topics_everywhere(admin, [topic])
    assert not any(view[topic].exists for view in views.values())


async def test_assignment_timeout_names_expected_and_assigned(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("assign")
    await setup_kafka_topics(kafka_servers, {topic: 1})
    async with open_test_consumer(
        kafka_servers, topic, client_id="a-holder", heartbeat_interval_ms=100
    ) as holder:
        # A second member of the group gets nothing: the range assignor orders members by id
        # (client id first), so the holder keeps the only partition after any rebalance.
        rival = AIOKafkaConsumer(
            bootstrap_servers=kafka_servers, group_id=holder._group_id, client_id="z-rival"
        )
        await rival.start()
        try:
            await subscribe_with_backoff(rival, [topic], wait=False)
            started = time.monotonic()
            with raises_code(ErrorCode.KAFKA_ASSIGNMENT_TIMEOUT) as caught:
                await wait_for_assignment(rival, partitions=[TopicPartition(topic, 0)], timeout=1.0)
            assert 1.0 <= time.monotonic() - started < 1.0 + SLACK
        finally:
            await rival.stop()
    error = caught[0]
    assert f"{topic}[0]" in error.context["expected"]
    assert error.context["group"] == holder._group_id


async def test_assignment_of_a_partition_that_does_not_exist_times_out(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("nopart")
    await setup_kafka_topics(kafka_servers, {topic: 2})
    async with open_test_consumer(kafka_servers, topic) as consumer:
        with raises_code(ErrorCode.KAFKA_ASSIGNMENT_TIMEOUT) as caught:
            await wait_for_assignment(consumer, partitions=[TopicPartition(topic, 7)], timeout=0.3)
    assert f"{topic}[0]" in caught[0].context["assigned"]


async def test_test_consumer_against_a_closed_port_is_unreachable(closed_port: int) -> None:
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_UNREACHABLE):
        await create_test_consumer(f"127.0.0.1:{closed_port}", "x", timeout=1.0)
    assert time.monotonic() - started < 1.0 + SLACK


async def test_handle_send_to_a_closed_port_is_unreachable(closed_port: int) -> None:
    started = time.monotonic()
    async with KafkaHandle(f"127.0.0.1:{closed_port}", timeout=1.0) as kafka:
        with raises_code(ErrorCode.KAFKA_UNREACHABLE):
            await kafka.send("x", b"v")
    assert time.monotonic() - started < 1.0 + SLACK


async def test_producer_started_by_hand_sees_a_ready_topic(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("hand")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_servers)
    await producer.start()
    try:
        assert await producer.partitions_for(topic) == {0, 1, 2}
    finally:
        await producer.stop()
