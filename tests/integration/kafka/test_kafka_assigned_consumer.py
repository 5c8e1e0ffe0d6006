"""An assign-only test consumer: every partition, no group, known start positions."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import KafkaHandle, open_assigned_consumer, setup_kafka_topics
from integration_kit.kafka.admin import admin_client

pytestmark = pytest.mark.integration

NewTopic = Callable[..., str]


async def read(consumer, count: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    got: list[bytes] = []
    while len(got) < count:
        batches = await asyncio.wait_for(consumer.getmany(timeout_ms=200), 10)
        got.extend(r.value for records in batches.values() for r in records)
    return got


async def test_from_the_beginning_it_reads_every_partition_without_a_group(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("assigned")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    async with KafkaHandle(kafka_servers) as kafka:
        for i in range(6):
            await kafka.send(topic, str(i), partition=i % 3)
    async with open_assigned_consumer(kafka_servers, topic) as consumer:
        assert consumer.assignment() == {TopicPartition(topic, p) for p in range(3)}
        assert sorted(await read(consumer, 6)) == [str(i).encode() for i in range(6)]
    async with admin_client(kafka_servers) as admin:  # no group was ever joined
        groups = [group[0] for group in await admin.list_consumer_groups()]
    assert not [g for g in groups if topic in str(g)]


async def test_from_the_end_it_sees_only_what_comes_after(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("assigned-end")
    await setup_kafka_topics(kafka_servers, {topic: 2})
    async with KafkaHandle(kafka_servers) as kafka:
        await kafka.send(topic, b"old", partition=0)
        async with open_assigned_consumer(kafka_servers, topic, start="end") as consumer:
            await kafka.send(topic, b"new", partition=1)
            assert await read(consumer, 1) == [b"new"]


async def test_a_missing_topic_is_refused_and_not_created(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("assigned-missing")
    with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY):
        async with open_assigned_consumer(kafka_servers, topic, timeout=1.0):
            pass
    async with admin_client(kafka_servers) as admin:
        assert topic not in await admin.list_topics()
