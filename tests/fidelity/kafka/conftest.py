"""One Kafka scenario suite, two backends: the mock cluster and a real broker.

Every test takes the ``kafka`` fixture (a :class:`KafkaSide`) and makes its clients
through it, so the same assertions run against ``MockKafkaCluster`` and against a real
broker: the plugin's ``ik_kafka`` (``INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS`` when set,
else a broker the plugin starts; skipped, with the reason, when none can run). Topics
and groups get unique names and are deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from integration_kit.kafka.protocol import delete_groups_request
from integration_kit.mocks.kafka import MockKafkaCluster
from integration_kit.services.namespace import Namespace
from integration_kit.waiting import wait_until

FAST_GROUP = {"heartbeat_interval_ms": 100, "session_timeout_ms": 10000, "retry_backoff_ms": 50}


class KafkaSide:
    """Client factories and names for one backend; tracks what to clean up."""

    def __init__(self, backend: str, *, bootstrap: str | None = None) -> None:
        self.backend = backend
        self.bootstrap = bootstrap
        # The kit's brokers never auto-create topics (auto.create.topics.enable=false).
        self.cluster = MockKafkaCluster(auto_create_topics=False) if backend == "mock" else None
        self._clients: list[Any] = []
        self._topics: list[str] = []
        self._groups: list[str] = []
        self._admin: Any = None
        self._run = uuid.uuid4().hex[:8]

    def name(self, label: str) -> str:
        """A unique topic name for this test, in the worker's namespace."""
        name = Namespace.current().topic(f"ikmock.{label}.{self._run}")
        self._topics.append(name)
        return name

    def group(self, label: str) -> str:
        group = f"ikmock-{label}-{self._run}-{uuid.uuid4().hex[:6]}"
        self._groups.append(group)
        return group

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.cluster is None:
            options.setdefault("bootstrap_servers", self.bootstrap)
        return options

    def producer(self, **options: Any) -> Any:
        if self.cluster is not None:
            client = self.cluster.producer(**options)
        else:
            client = AIOKafkaProducer(**self._options(options))
        self._clients.append(client)
        return client

    def consumer(self, *topics: str, **options: Any) -> Any:
        if options.get("group_id") is not None:
            for key, value in FAST_GROUP.items():
                options.setdefault(key, value)
        if self.cluster is not None:
            client = self.cluster.consumer(*topics, **options)
        else:
            client = AIOKafkaConsumer(*topics, **self._options(options))
        self._clients.append(client)
        return client

    async def admin(self) -> Any:
        if self._admin is None:
            if self.cluster is not None:
                self._admin = self.cluster.admin()
            else:
                self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await self._admin.start()
        return self._admin

    async def create_topic(self, label: str, partitions: int) -> str:
        """Create a fresh topic and wait until every partition has a leader."""
        name = self.name(label)
        admin = await self.admin()
        response = await admin.create_topics([NewTopic(name, partitions, 1)])
        assert [err for _, err, *_ in response.topic_errors] == [0], response
        if self.cluster is None:
            await wait_until(lambda: self._leaders_ready(name, partitions), equals=True, timeout=20)
        return name

    async def _leaders_ready(self, name: str, partitions: int) -> bool:
        admin = await self.admin()
        (topic,) = await admin.describe_topics([name])
        parts = topic["partitions"]
        return topic["error_code"] == 0 and len(parts) == partitions and all(p["leader"] >= 0 for p in parts)

    async def close(self) -> None:
        for client in reversed(self._clients):
            stop = getattr(client, "stop", None)
            if stop is not None:
                await stop()
        if self._admin is None and (self._topics or self._groups) and self.cluster is None:
            await self.admin()
        if self._admin is not None:
            if self._topics:
                existing = set(await self._admin.list_topics())
                doomed = [t for t in set(self._topics) if t in existing]
                if doomed:
                    await self._admin.delete_topics(doomed)
            if self._groups and self.cluster is None:
                await _delete_real_groups(self._admin, self._groups)
            await self._admin.close()


async def _delete_real_groups(admin: AIOKafkaAdminClient, groups: list[str]) -> None:
    """Best-effort removal of the test's consumer groups from the real broker."""
    known = {g for g, *_ in await admin.list_consumer_groups()}
    doomed = [g for g in groups if g in known]
    if doomed:
        coordinator = await admin.find_coordinator(doomed[0])
        await admin._send_request(delete_groups_request(doomed), coordinator)


@pytest.fixture(
    params=[
        pytest.param("mock", marks=pytest.mark.unit),
        pytest.param("real", marks=pytest.mark.integration),
    ]
)
async def kafka(request: pytest.FixtureRequest) -> AsyncIterator[KafkaSide]:
    """The backend under test: ``mock`` (in-memory) or ``real`` (the configured broker)."""
    if request.param == "real":
        # The plugin's Kafka for this run: the broker at INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS,
        # else one it starts (docker/local); it skips, with the reason, when none can run.
        endpoint = request.getfixturevalue("ik_kafka")
        side = KafkaSide("real", bootstrap=endpoint.bootstrap_servers)
    else:
        side = KafkaSide("mock")
    try:
        yield side
    finally:
        await side.close()
