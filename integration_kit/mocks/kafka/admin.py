"""``MockKafkaAdmin``: the parts of ``AIOKafkaAdminClient`` that tests and services use."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidReplicationFactorError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.kafka.cluster import MockKafkaCluster
from integration_kit.mocks.kafka.producer import _bound_cluster, _check_options

__all__ = ["MockAdminResponse", "MockKafkaAdmin"]

_OPTIONS = frozenset(inspect.signature(AIOKafkaAdminClient.__init__).parameters) - {"self"}
NODE_ID = 1
BROKERS = 1  # the mock cluster is one broker: a replication factor above 1 cannot be met
NON_EMPTY_GROUP = 68  # the broker's NON_EMPTY_GROUP error code


@dataclass
class MockAdminResponse:
    """What ``create_topics``/``delete_topics``/``create_partitions`` return.

    The same attribute names as aiokafka's protocol responses: ``topic_errors`` holds
    ``(topic, error_code, error_message)``, ``topic_error_codes`` ``(topic, error_code)``;
    error code 0 is success.
    """

    topic_errors: list[tuple[str, int, str | None]] = field(default_factory=list)
    topic_error_codes: list[tuple[str, int]] = field(default_factory=list)


class MockKafkaAdmin:
    """An in-memory stand-in for :class:`aiokafka.admin.AIOKafkaAdminClient`."""

    _bound_cluster: ClassVar[MockKafkaCluster | None] = None

    def __init__(self, *, cluster: MockKafkaCluster | None = None, **options: Any) -> None:
        _check_options(type(self).__name__, options, _OPTIONS)
        self._cluster = _bound_cluster(self, cluster, "admin")
        self._started = False
        self._closed = False

    async def start(self) -> None:
        error = self._cluster._chaos.connect_error("admin")
        if error is not None:
            raise error
        self._started = True

    async def close(self) -> None:
        self._closed = True

    async def __aenter__(self) -> MockKafkaAdmin:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _check(self, operation: str) -> None:
        if not self._started or self._closed:
            raise MockError(ErrorCode.MOCK_KAFKA_NOT_STARTED, client="admin", operation=operation)

    async def create_topics(
        self, new_topics: list[NewTopic], timeout_ms: int | None = None, validate_only: bool = False
    ) -> MockAdminResponse:
        """Create topics; per-topic errors come back in ``topic_errors`` (not raised)."""
        self._check("create_topics")
        response = MockAdminResponse()
        for topic in new_topics:
            partitions = topic.num_partitions if topic.num_partitions != -1 else None
            configs = dict(getattr(topic, "topic_configs", None) or {})
            try:
                if topic.name in self._cluster.topics():
                    raise TopicAlreadyExistsError(f"Topic '{topic.name}' already exists.")
                factor = topic.replication_factor
                if factor != -1 and not 1 <= factor <= BROKERS:
                    raise InvalidReplicationFactorError(
                        f"Unable to replicate the partition {factor} time(s): "
                        f"The target replication factor of {factor} cannot be reached "
                        f"because only {BROKERS} broker(s) are registered."
                    )
                if validate_only:
                    self._cluster._validate_topic(topic.name, partitions, configs)
                else:
                    self._cluster.create_topic(topic.name, partitions, configs)
            except (
                TopicAlreadyExistsError,
                InvalidPartitionsError,
                InvalidReplicationFactorError,
                InvalidTopicError,
                InvalidConfigurationError,
            ) as exc:
                response.topic_errors.append((topic.name, exc.errno, str(exc)))
            else:
                response.topic_errors.append((topic.name, 0, None))
        return response

    async def delete_topics(self, topics: list[str], timeout_ms: int | None = None) -> MockAdminResponse:
        """Delete topics; per-topic errors come back in ``topic_error_codes``."""
        self._check("delete_topics")
        response = MockAdminResponse()
        for name in topics:
            try:
                self._cluster.delete_topic(name)
            except UnknownTopicOrPartitionError as exc:
                response.topic_error_codes.append((name, exc.errno))
            else:
                response.topic_error_codes.append((name, 0))
        return response

    async def create_partitions(
        self,
        topic_partitions: dict[str, NewPartitions],
        timeout_ms: int | None = None,
        validate_only: bool = False,
    ) -> MockAdminResponse:
        """Grow topics (raises like aiokafka on the first error)."""
        self._check("create_partitions")
        response = MockAdminResponse()
        for name, spec in topic_partitions.items():
            if validate_only:
                continue
            try:
                self._cluster.create_partitions(name, spec.total_count)
            except (InvalidPartitionsError, UnknownTopicOrPartitionError) as exc:
                raise type(exc)(f"Could not create partitions for {name}: {exc}") from exc
            response.topic_errors.append((name, 0, None))
        return response

    async def list_topics(self) -> list[str]:
        self._check("list_topics")
        return sorted(self._cluster.topics())

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        """Topic metadata in the shape of aiokafka's ``MetadataResponse.to_object()``."""
        self._check("describe_topics")
        names = sorted(self._cluster.topics()) if topics is None else topics
        out = []
        for name in names:
            parts = self._cluster.partitions_for(name)
            out.append(
                {
                    "error_code": 0 if parts is not None else UnknownTopicOrPartitionError.errno,
                    "topic": name,
                    "is_internal": False,
                    "partitions": [
                        {
                            "error_code": 0,
                            "partition": p,
                            "leader": NODE_ID,
                            "replicas": [NODE_ID],
                            "isr": [NODE_ID],
                            "offline_replicas": [],
                        }
                        for p in sorted(parts or ())
                    ],
                }
            )
        return out

    async def describe_cluster(self) -> dict[str, Any]:
        self._check("describe_cluster")
        return {
            "throttle_time_ms": 0,
            "brokers": [{"node_id": NODE_ID, "host": "mock", "port": 9092, "rack": None}],
            "cluster_id": f"mock-{self._cluster.seed}",
            "controller_id": NODE_ID,
        }

    async def list_consumer_groups(self, broker_ids: list[int] | None = None) -> list[tuple[str, str]]:
        """``[(group_id, "consumer"), ...]`` for groups with members or offsets."""
        self._check("list_consumer_groups")
        return [(g, "consumer") for g in sorted(self._cluster.groups())]

    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = None,
        partitions: list[TopicPartition] | None = None,
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        """Committed offsets of ``group_id`` (``-1`` for asked-for partitions without one)."""
        self._check("list_consumer_group_offsets")
        committed = self._cluster.committed(group_id)
        if not partitions:
            return committed
        return {tp: committed.get(tp, OffsetAndMetadata(-1, "")) for tp in partitions}

    async def delete_consumer_groups(
        self, group_ids: list[str], group_coordinator_id: int | None = None
    ) -> list[tuple[str, int]]:
        """Delete empty groups with their offsets (a group with members: error 68, NON_EMPTY_GROUP)."""
        self._check("delete_consumer_groups")
        out = []
        for group_id in group_ids:
            group = self._cluster._groups.get(group_id)
            if group is not None and group.members:
                out.append((group_id, NON_EMPTY_GROUP))
                continue
            self._cluster.delete_group(group_id)
            out.append((group_id, 0))
        return out
