"""A broker that does not auto-create topics: clients wait for metadata, then give up.

``[real]`` is a broker of its own, started with ``auto.create.topics.enable=false`` by the
local backend (skipped with the reason when it cannot run); ``[mock]`` a
``MockKafkaCluster(auto_create_topics=False)``. Both must keep a ``send``,
``partitions_for`` or a subscribed consumer's ``start`` waiting until
``request_timeout_ms``, then raise ``UnknownTopicOrPartitionError``, and must go on when
the topic appears meanwhile.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import UnknownTopicOrPartitionError

from integration_kit.mocks.kafka import MockKafkaCluster

pytestmark = pytest.mark.fidelity("kafka: metadata without auto-creation")

TIMEOUT_MS = 1500


@pytest.fixture(scope="module")
def no_auto_create_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from integration_kit.config import load_settings
    from integration_kit.services.backends.local import LocalBackend
    from integration_kit.services.base import KafkaService

    root: Path = tmp_path_factory.mktemp("no-auto-create")
    backend = LocalBackend(load_settings(runtime_dir=str(root)))
    available, why = backend.available()
    if not available:
        pytest.skip(f"no local Kafka for a broker with auto-creation off: {why}")
    service = backend.start(KafkaService(broker_config={"auto.create.topics.enable": "false"}), timeout=120)
    try:
        yield service.endpoint.bootstrap_servers
    finally:
        service.stop()


class _Side:
    def __init__(self, name: str, bootstrap: str | None) -> None:
        self.name = name
        self.cluster = MockKafkaCluster(auto_create_topics=False) if bootstrap is None else None
        self.bootstrap = bootstrap
        self.clients: list[Any] = []

    def producer(self) -> Any:
        if self.cluster is not None:
            client = self.cluster.producer(request_timeout_ms=TIMEOUT_MS)
        else:
            client = AIOKafkaProducer(bootstrap_servers=self.bootstrap, request_timeout_ms=TIMEOUT_MS)
        self.clients.append(client)
        return client

    def consumer(self, topic: str) -> Any:
        options = {"group_id": None, "request_timeout_ms": TIMEOUT_MS, "auto_offset_reset": "earliest"}
        if self.cluster is not None:
            client = self.cluster.consumer(topic, **options)
        else:
            client = AIOKafkaConsumer(topic, bootstrap_servers=self.bootstrap, **options)
        self.clients.append(client)
        return client

    async def create(self, topic: str) -> None:
        if self.cluster is not None:
            self.cluster.create_topic(topic, 1)
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()


@pytest.fixture(
    params=[pytest.param("mock", marks=pytest.mark.unit), pytest.param("real", marks=pytest.mark.integration)]
)
async def side(request: pytest.FixtureRequest) -> AsyncIterator[_Side]:
    bootstrap = None if request.param == "mock" else request.getfixturevalue("no_auto_create_broker")
    built = _Side(request.param, bootstrap)
    try:
        yield built
    finally:
        for client in built.clients:
            await client.stop()


def _topic() -> str:
    return f"ikmock.noauto.{uuid.uuid4().hex[:10]}"


async def _gives_up(call: Any) -> None:
    started = time.monotonic()
    with pytest.raises(UnknownTopicOrPartitionError):
        await call
    assert time.monotonic() - started >= (TIMEOUT_MS / 1000) * 0.9


async def test_send_to_a_missing_topic_waits_then_fails(side: _Side) -> None:
    producer = side.producer()
    await producer.start()
    await _gives_up(producer.send_and_wait(_topic(), b"v"))


async def test_partitions_for_a_missing_topic_waits_then_fails(side: _Side) -> None:
    producer = side.producer()
    await producer.start()
    await _gives_up(producer.partitions_for(_topic()))


async def test_a_consumer_subscribed_to_a_missing_topic_fails_to_start(side: _Side) -> None:
    consumer = side.consumer(_topic())
    await _gives_up(consumer.start())


async def test_a_topic_created_while_the_client_waits_is_used(side: _Side) -> None:
    topic = _topic()
    producer = side.producer()
    await producer.start()
    sending = asyncio.ensure_future(producer.send_and_wait(topic, b"v"))
    with pytest.raises(TimeoutError):  # still waiting for the topic's metadata after 0.3 s
        await asyncio.wait_for(asyncio.shield(sending), 0.3)
    await side.create(topic)
    meta = await sending
    assert (meta.topic, meta.offset) == (topic, 0)
