"""Broker rules a mock must not skip: topic configs, record sizes, compaction, admin error codes.

The same assertions on ``MockKafkaCluster`` and a real Kafka 4.1 broker (see conftest.py).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError, UnknownError
from aiokafka.structs import TopicPartition

pytestmark = pytest.mark.fidelity("kafka: broker rules")

BROKER_MAX = 1048588  # message.max.bytes default (Kafka 4.1)


async def _create(kafka: Any, label: str, partitions: int = 1, **configs: str) -> tuple[str, Any]:
    name = kafka.name(label)
    admin = await kafka.admin()
    response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    return name, response


async def test_log_append_time_topics_stamp_the_broker_time(kafka: Any) -> None:
    name, response = await _create(kafka, "lat", **{"message.timestamp.type": "LogAppendTime"})
    assert [code for _, code, *_ in response.topic_errors] == [0]
    producer = kafka.producer()
    await producer.start()
    before = int(time.time() * 1000)
    meta = await producer.send_and_wait(name, b"v", timestamp_ms=1_000)
    after = int(time.time() * 1000)
    assert meta.timestamp_type == 1
    assert before - 5_000 <= meta.timestamp <= after + 5_000
    consumer = kafka.consumer(name, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    record = await consumer.getone()
    assert record.timestamp_type == 1
    assert before - 5_000 <= record.timestamp <= after + 5_000


async def test_create_time_topics_keep_the_producer_time(kafka: Any) -> None:
    name, _ = await _create(kafka, "ct")
    producer = kafka.producer()
    await producer.start()
    meta = await producer.send_and_wait(name, b"v", timestamp_ms=1_000)
    assert (meta.timestamp, meta.timestamp_type) == (1_000, 0)


async def test_a_record_over_the_clients_max_request_size_is_refused(kafka: Any) -> None:
    name, _ = await _create(kafka, "size")
    producer = kafka.producer(max_request_size=1000)
    await producer.start()
    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(name, b"x" * 2000)
    assert (await producer.send_and_wait(name, b"x" * 100)).offset == 0


async def test_a_record_over_the_topics_max_message_bytes_is_refused(kafka: Any) -> None:
    name, _ = await _create(kafka, "tsize", **{"max.message.bytes": "2000"})
    producer = kafka.producer()
    await producer.start()
    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(name, b"x" * 5000)
    assert (await producer.send_and_wait(name, b"x" * 500)).offset == 0


async def test_a_record_over_the_brokers_message_max_bytes_is_refused(kafka: Any) -> None:
    name, _ = await _create(kafka, "bsize")
    producer = kafka.producer(max_request_size=4 * BROKER_MAX)
    await producer.start()
    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(name, b"x" * (BROKER_MAX + 1000))


async def test_a_compacted_topic_refuses_a_null_key(kafka: Any) -> None:
    name, _ = await _create(kafka, "compact", **{"cleanup.policy": "compact"})
    producer = kafka.producer()
    await producer.start()
    with pytest.raises(KafkaError) as refused:
        await producer.send_and_wait(name, b"no key")
    # the broker answers INVALID_RECORD (87), which aiokafka has no class for
    assert type(refused.value) is UnknownError
    assert (await producer.send_and_wait(name, b"v", key=b"k")).offset >= 0


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (lambda name: NewTopic(name, 1, 3), 38),  # INVALID_REPLICATION_FACTOR: one broker
        (lambda name: NewTopic(name + "/bad", 1, 1), 17),  # INVALID_TOPIC_EXCEPTION
        (lambda name: NewTopic(name + "." + "x" * 250, 1, 1), 17),  # name longer than 249
        (lambda name: NewTopic(name, 1, 1, topic_configs={"no.such.config": "1"}), 40),  # INVALID_CONFIG
        (lambda name: NewTopic(name, 1, 1, topic_configs={"cleanup.policy": "sometimes"}), 40),
        (lambda name: NewTopic(name, 0, 1), 37),  # INVALID_PARTITIONS
    ],
    ids=[
        "replication-factor",
        "bad-character",
        "too-long",
        "unknown-config",
        "bad-config-value",
        "zero-partitions",
    ],
)
async def test_create_topics_answers_per_topic_error_codes(kafka: Any, build: Any, code: int) -> None:
    name = kafka.name("bad")
    admin = await kafka.admin()
    response = await admin.create_topics([build(name)])
    assert [error for _, error, *_ in response.topic_errors] == [code]
    assert name not in await admin.list_topics()


async def test_end_offsets_of_a_missing_partition_wait_for_the_timeout(kafka: Any) -> None:
    name, _ = await _create(kafka, "eo")
    consumer = kafka.consumer(group_id=None, request_timeout_ms=1500)
    await consumer.start()
    started = time.monotonic()
    with pytest.raises(KafkaTimeoutError):
        await consumer.end_offsets([TopicPartition(name, 5)])
    assert time.monotonic() - started >= 1.0
    assert await consumer.end_offsets([TopicPartition(name, 0)]) == {TopicPartition(name, 0): 0}


@pytest.mark.fidelity("kafka: producer", unsupported="transactions (transactional_id)")
async def test_transactions_are_refused_with_a_coded_error(kafka: Any) -> None:
    name, _ = await _create(kafka, "txn")
    if kafka.cluster is not None:
        from integration_kit.errors import ErrorCode, MockError

        with pytest.raises(MockError) as refused:
            kafka.producer(transactional_id=kafka.group("txn"))
        assert refused.value.code is ErrorCode.MOCK_KAFKA_UNSUPPORTED
        return
    producer = kafka.producer(transactional_id=kafka.group("txn"))
    await producer.start()
    async with producer.transaction():
        await producer.send_and_wait(name, b"committed")
    await producer.begin_transaction()
    await producer.send_and_wait(name, b"aborted")
    await producer.abort_transaction()
    consumer = kafka.consumer(
        name, group_id=None, auto_offset_reset="earliest", isolation_level="read_committed"
    )
    await consumer.start()
    batch = await consumer.getmany(timeout_ms=5000)
    values = [record.value for records in batch.values() for record in records]
    assert values == [b"committed"]
