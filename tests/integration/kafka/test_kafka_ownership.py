"""A declared topic that exists and is not the kit's is refused, never deleted."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import create_topics
from integration_kit.kafka.testcase import KafkaTestCase
from integration_kit.services.base import Endpoint, ServiceSpec
from integration_kit.services.namespace import Namespace
from integration_kit.testcase import ClassContext

pytestmark = pytest.mark.integration


class _Endpoints:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        return self._endpoint


async def _run_class(cls: type[KafkaTestCase], endpoint: Endpoint, *, worker: str = "main") -> list[str]:
    """Set the class up, run one empty test, tear down; return the real topic names."""
    ctx = ClassContext(services=_Endpoints(endpoint), namespace=Namespace(worker), owner=cls)
    async with ctx.exit_stack:
        await cls().ik_setup_class(ctx)
        instance = cls()
        await instance.ik_setup(ctx)
        try:
            return sorted(instance.kafka.topics.values())
        finally:
            await instance.ik_teardown(ctx)


async def _fill(servers: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    await create_topics(servers, {topic: 2}, timeout=30)
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, b"foreign-%d\x00\xff" % i, key=b"k%d" % i, partition=i % 2)
    finally:
        await producer.stop()
    return await _contents(servers, topic)


async def _contents(servers: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every message of ``topic`` (partition order, then offset): key and value bytes."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out: list[tuple[bytes | None, bytes | None]] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                out.extend((m.key, m.value) for m in batch.get(tp, []))
        return out
    finally:
        await consumer.stop()


@pytest.mark.parametrize("naming", ["recreate", "unique"])
async def test_a_declared_topic_that_exists_is_refused_and_kept(
    ik_kafka: Endpoint, new_topic: Callable[[str], str], naming: str
) -> None:
    name = new_topic("payments")  # main namespace: the real name is the declared one
    before = await _fill(ik_kafka.bootstrap_servers, name)

    class TestPayments(KafkaTestCase):
        kafka_topics = {name: 1}
        kafka_topic_naming = naming

    if naming == "unique":  # a fresh name per class: the pre-existing topic is never in the way
        assert name not in await _run_class(TestPayments, ik_kafka)
    else:
        with raises_code(ErrorCode.KAFKA_TOPIC_FOREIGN) as caught:
            await _run_class(TestPayments, ik_kafka)
        assert name in caught[0].message and "TestPayments" in caught[0].message
    assert await _contents(ik_kafka.bootstrap_servers, name) == before


async def test_a_worker_prefix_collision_is_refused_and_kept(
    ik_kafka: Endpoint, new_topic: Callable[[str], str]
) -> None:
    stem = f"events-{uuid.uuid4().hex[:8]}"
    colliding = f"gw7.{stem}"
    before = await _fill(ik_kafka.bootstrap_servers, colliding)

    class TestEvents(KafkaTestCase):
        kafka_topics = [stem]
        kafka_topic_scope = "function"

    try:
        with raises_code(ErrorCode.KAFKA_TOPIC_FOREIGN):
            await _run_class(TestEvents, ik_kafka, worker="gw7")
        assert await _contents(ik_kafka.bootstrap_servers, colliding) == before
    finally:
        from integration_kit.kafka import delete_topics

        await delete_topics(ik_kafka.bootstrap_servers, [colliding], timeout=15)


async def test_the_kits_own_topics_are_recreated_class_after_class(ik_kafka: Endpoint) -> None:
    stem = f"orders-{uuid.uuid4().hex[:8]}"

    class TestOrders(KafkaTestCase):
        kafka_topics = [stem]

    # the first class's deletion may still be under way: the name is the kit's all the same
    assert await _run_class(TestOrders, ik_kafka, worker="gw8") == [f"gw8.{stem}"]
    assert await _run_class(TestOrders, ik_kafka, worker="gw8") == [f"gw8.{stem}"]
