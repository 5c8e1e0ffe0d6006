"""KafkaHandle: send, messages, expect_message, expect_no_message against the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiokafka import TopicPartition

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import KafkaHandle, setup_kafka_topics

pytestmark = pytest.mark.integration
NewTopic = Callable[..., str]
SLACK = 2.0


@pytest.fixture
async def orders(kafka_servers: str, new_topic: NewTopic) -> str:
    topic = new_topic("orders")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    return topic


@pytest.fixture
async def kafka(kafka_servers: str, orders: str) -> AsyncIterator[KafkaHandle]:
    async with KafkaHandle(kafka_servers, topics={"orders": orders}) as handle:
        yield handle


async def test_send_encodes_values_keys_and_headers(kafka: KafkaHandle) -> None:
    await kafka.send("orders", {"id": 7, "sku": "Ä1"}, key="7", headers={"trace": "abc"}, partition=0)
    await kafka.send("orders", [1, 2], key=b"\x00k", partition=0)
    await kafka.send("orders", "plain text", partition=0)
    await kafka.send("orders", b"\xffraw", key=42, partition=0)
    await kafka.send("orders", None, key="tombstone", partition=0)
    messages = await kafka.messages("orders")
    assert [m.offset for m in messages] == [0, 1, 2, 3, 4]
    first, second, third, fourth, fifth = messages
    assert first.json() == {"id": 7, "sku": "Ä1"} and first.key_text == "7"
    assert first.header("trace") == b"abc"
    assert second.json() == [1, 2] and second.key == b"\x00k"
    assert third.text == "plain text"
    assert fourth.value == b"\xffraw" and fourth.key == b"42"
    assert fifth.value is None and fifth.json() is None


async def test_send_rejects_values_it_cannot_encode(kafka: KafkaHandle) -> None:
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        await kafka.send("orders", object())
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        await kafka.send("orders", {"when": time})
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        await kafka.send("orders", b"x", key=1.5)
    assert await kafka.messages("orders") == []


async def test_topic_maps_declared_names(kafka: KafkaHandle, orders: str) -> None:
    assert kafka.topic("orders") == orders
    assert kafka.topic(orders) == orders


async def test_expect_message_finds_earlier_and_later_messages(kafka: KafkaHandle) -> None:
    await kafka.send("orders", {"id": 1})

    async def later() -> None:
        await asyncio.sleep(0.2)
        await kafka.send("orders", {"id": 2}, key="2")

    task = asyncio.create_task(later())
    first = await kafka.expect_message("orders", where=lambda m: m.json()["id"] == 1)
    second = await kafka.expect_message("orders", where=lambda m: m.json()["id"] == 2, within=10)
    await task
    assert first.json() == {"id": 1}
    assert second.key == b"2"
    assert (await kafka.expect_message("orders")).json() == {"id": 1}


async def test_expect_message_times_out_with_what_it_saw(kafka: KafkaHandle, orders: str) -> None:
    await kafka.send("orders", {"id": 1})
    await kafka.send("orders", b"not json")
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_NO_MESSAGE) as caught:
        await kafka.expect_message("orders", where=lambda m: m.json()["id"] == 99, within=0.5)
    assert 0.5 <= time.monotonic() - started < 0.5 + SLACK
    error = caught[0]
    assert error.context["topic"] == orders
    assert error.context["seen"] == 2
    assert "JSONDecodeError" in error.context["predicate_error"]


async def test_expect_message_on_a_topic_that_never_appears(kafka: KafkaHandle) -> None:
    with raises_code(ErrorCode.KAFKA_NO_MESSAGE) as caught:
        await kafka.expect_message("no-such-topic-for-handle", within=0.3)
    assert caught[0].context["seen"] == 0


async def test_expect_no_message(kafka: KafkaHandle) -> None:
    await kafka.send("orders", {"id": 1})
    await kafka.expect_no_message("orders", where=lambda m: m.json()["id"] == 2, within=0.3)
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_UNEXPECTED_MESSAGE) as caught:
        await kafka.expect_no_message("orders", where=lambda m: m.json()["id"] == 1, within=5)
    assert time.monotonic() - started < 5  # raised as soon as the message matched
    assert '{"id":1}' in caught[0].context["message"]


async def test_expect_no_message_catches_a_message_sent_during_the_window(kafka: KafkaHandle) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        await kafka.send("orders", "late")

    task = asyncio.create_task(later())
    with raises_code(ErrorCode.KAFKA_UNEXPECTED_MESSAGE):
        await kafka.expect_no_message("orders", within=5)
    await task


async def test_mark_hides_earlier_messages(kafka_servers: str, orders: str) -> None:
    async with KafkaHandle(kafka_servers, topics={"orders": orders}) as before:
        await before.send("orders", "old")
    async with KafkaHandle(kafka_servers, topics={"orders": orders}) as kafka:
        await kafka.mark()
        await kafka.expect_no_message("orders", within=0.2)
        await kafka.send("orders", "new")
        assert [m.text for m in await kafka.messages("orders")] == ["new"]


async def test_mark_leaves_a_kept_consumer_tracking_the_topics(kafka_servers: str, orders: str) -> None:
    """The next ``end_offsets`` on the consumer finds every leader in its own metadata
    (no refresh-and-retry inside the driver), and every partition has its mark."""
    from integration_kit.kafka.handle import start_reading_consumer

    consumer = await start_reading_consumer(kafka_servers, timeout=10.0)
    try:
        async with KafkaHandle(kafka_servers, topics={"orders": orders}) as kafka:
            await kafka.send("orders", "before", partition=1)
            asked = consumer.end_offsets
            known_when_asked: list[set[int] | None] = []

            async def end_offsets(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
                known_when_asked.append(consumer._client.cluster.partitions_for_topic(orders))
                return await asked(partitions)

            consumer.end_offsets = end_offsets  # type: ignore[method-assign]
            assert consumer._client.cluster.partitions_for_topic(orders) is None
            await kafka.mark(using=consumer)
            assert known_when_asked == [{0, 1, 2}]
            assert {tp.partition: offset for tp, offset in kafka._marks.items()} == {0: 0, 1: 1, 2: 0}
            await kafka.send("orders", "after", partition=1)
            assert [m.text for m in await kafka.messages("orders")] == ["after"]
    finally:
        await consumer.stop()


async def test_handle_consumer_is_assigned_and_stopped_on_close(kafka_servers: str, orders: str) -> None:
    async with KafkaHandle(kafka_servers, topics={"orders": orders}) as kafka:
        consumer = await kafka.consumer("orders")
        assert len(consumer.assignment()) == 3
        await kafka.send("orders", "hello")
        record = await asyncio.wait_for(consumer.getone(), 10)
        assert record.value == b"hello"
    assert consumer._closed
