"""``MockKafkaCluster``: an in-memory broker with topics, partitions, groups and chaos.

One cluster object is one isolated broker: create one per test (nothing is shared
between instances). Clients are made from it (``cluster.producer()``,
``cluster.consumer()``, ``cluster.admin()``) or swapped in for aiokafka's classes with
:func:`~integration_kit.mocks.kafka.patch.patch_aiokafka`.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiokafka.errors import (
    InvalidConfigurationError,
    InvalidPartitionsError,
    InvalidTopicError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, RecordMetadata, TopicPartition

from integration_kit.mocks.kafka.chaos import ChaosEngine, ChaosEvent, KafkaChaos, RecordFaults
from integration_kit.mocks.kafka.groups import ConsumerGroup
from integration_kit.mocks.kafka.partitioner import SeededPartitioner
from integration_kit.mocks.kafka.topic_config import BROKER_MESSAGE_MAX_BYTES, invalid_config

if TYPE_CHECKING:
    from integration_kit.mocks.kafka.admin import MockKafkaAdmin
    from integration_kit.mocks.kafka.consumer import MockKafkaConsumer
    from integration_kit.mocks.kafka.producer import MockKafkaProducer

__all__ = ["MockKafkaCluster"]

# (key bytes, value bytes, timestamp ms, headers, timestamp type); None marks a gap.
StoredRecord = tuple[bytes | None, bytes | None, int, tuple[tuple[str, bytes], ...], int]
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
CREATE_TIME = 0


@dataclass
class _Held:
    """A record held back by chaos reordering until ``countdown`` later records arrive."""

    countdown: int
    record: StoredRecord
    future: asyncio.Future[RecordMetadata]
    owner: object
    duplicate: bool


@dataclass
class PartitionLog:
    """The records of one partition; the list index is the offset."""

    tp: TopicPartition
    records: list[StoredRecord | None] = field(default_factory=list)
    held: list[_Held] = field(default_factory=list)

    @property
    def end_offset(self) -> int:
        return len(self.records)


class MockKafkaCluster:
    """An in-memory Kafka cluster.

    Keyword options mirror broker settings: ``default_partitions`` is
    ``num.partitions`` (used for auto-created topics, 1 as on a default broker),
    ``auto_create_topics`` is ``auto.create.topics.enable``. ``seed`` fixes every
    random choice (null-key partitions, member ids); ``chaos`` injects faults;
    ``clock`` returns the time in seconds for record timestamps (default
    ``time.time``; pass a virtual clock's ``time`` to control timestamps).
    """

    def __init__(
        self,
        *,
        default_partitions: int = 1,
        auto_create_topics: bool = True,
        seed: int = 0,
        chaos: KafkaChaos | None = None,
        clock: Callable[[], float] | Any = None,
    ) -> None:
        if default_partitions < 1:
            raise ValueError("default_partitions must be >= 1")
        self.default_partitions = default_partitions
        self.auto_create_topics = auto_create_topics
        self.seed = seed
        self._rng = random.Random(seed)
        self.partitioner = SeededPartitioner(self._rng)
        self._now_ms = _clock_ms(clock)
        self._real_clock = clock is None
        self._topics: dict[str, list[PartitionLog]] = {}
        self._configs: dict[str, dict[str, str]] = {}
        self.message_max_bytes = BROKER_MESSAGE_MAX_BYTES
        self._ids: dict[str, list[int]] = {}
        self._groups: dict[str, ConsumerGroup] = {}
        self._consumers: list[MockKafkaConsumer] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._chaos = ChaosEngine(chaos)

    # --- chaos ---
    @property
    def chaos(self) -> KafkaChaos | None:
        """The chaos settings in force (``None``: no faults)."""
        return self._chaos.config

    def set_chaos(self, chaos: KafkaChaos | None) -> None:
        """Replace the chaos settings; the fault counters and event log start afresh."""
        self._chaos = ChaosEngine(chaos)

    @property
    def chaos_events(self) -> list[ChaosEvent]:
        """The faults injected so far, in order."""
        return list(self._chaos.events)

    # --- clients ---
    def producer(self, **config: Any) -> MockKafkaProducer:
        """A producer on this cluster (options as ``AIOKafkaProducer``'s)."""
        from integration_kit.mocks.kafka.producer import MockKafkaProducer

        return MockKafkaProducer(cluster=self, **config)

    def consumer(self, *topics: str, **config: Any) -> MockKafkaConsumer:
        """A consumer on this cluster (options as ``AIOKafkaConsumer``'s)."""
        from integration_kit.mocks.kafka.consumer import MockKafkaConsumer

        return MockKafkaConsumer(*topics, cluster=self, **config)

    def admin(self, **config: Any) -> MockKafkaAdmin:
        """An admin client on this cluster (options as ``AIOKafkaAdminClient``'s)."""
        from integration_kit.mocks.kafka.admin import MockKafkaAdmin

        return MockKafkaAdmin(cluster=self, **config)

    # --- topics ---
    def create_topic(
        self, name: str, partitions: int | None = None, configs: dict[str, str] | None = None
    ) -> None:
        """Create a topic (``TopicAlreadyExistsError`` if it exists); ``configs`` as a broker checks them.

        An invalid name raises ``InvalidTopicError``, an invalid config ``InvalidConfigurationError``
        (the broker's error codes 17 and 40, see :mod:`integration_kit.mocks.kafka.topic_config`).
        """
        count = self._validate_topic(name, partitions, configs)
        self._topics[name] = [PartitionLog(TopicPartition(name, p)) for p in range(count)]
        self._configs[name] = {str(k): str(v) for k, v in (configs or {}).items()}
        self._topology_changed(name)

    def _validate_topic(self, name: str, partitions: int | None, configs: dict[str, str] | None) -> int:
        """Raise what the broker answers for a topic it would not create; the partition count."""
        if name in self._topics:
            raise TopicAlreadyExistsError(f"Topic '{name}' already exists.")
        if not _TOPIC_NAME.match(name) or name in (".", ".."):
            raise InvalidTopicError(f"Topic name {name!r} is illegal")
        count = self.default_partitions if partitions is None else partitions
        if count < 1:
            raise InvalidPartitionsError(f"Number of partitions must be larger than 0 (got {count}).")
        problem = invalid_config(dict(configs or {}))
        if problem is not None:
            raise InvalidConfigurationError(problem)
        return count

    def topic_config(self, name: str) -> dict[str, str]:
        """The configs ``name`` was created with (empty for broker defaults)."""
        return dict(self._configs.get(name, {}))

    def _rules(self, name: str) -> tuple[bool, bool, int]:
        """(compacted, log-append-time, max batch bytes) of a topic, as the broker applies them."""
        configs = self._configs.get(name)
        if not configs:
            return False, False, self.message_max_bytes
        return (
            "compact" in configs.get("cleanup.policy", "delete"),
            configs.get("message.timestamp.type") == "LogAppendTime",
            int(configs.get("max.message.bytes", self.message_max_bytes)),
        )

    def create_partitions(self, name: str, total: int) -> None:
        """Grow ``name`` to ``total`` partitions (``InvalidPartitionsError`` if not more)."""
        logs = self._topic(name)
        if total <= len(logs):
            raise InvalidPartitionsError(
                f"Topic currently has {len(logs)} partitions, "
                f"which is higher than or equal to the requested {total}."
            )
        logs.extend(PartitionLog(TopicPartition(name, p)) for p in range(len(logs), total))
        self._topology_changed(name)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and its records (``UnknownTopicOrPartitionError`` if absent)."""
        for plog in self._topic(name):
            for held in plog.held:
                if not held.future.done():
                    held.future.set_exception(UnknownTopicOrPartitionError(f"topic {name!r} was deleted"))
        del self._topics[name]
        self._configs.pop(name, None)
        for group in self._groups.values():
            for tp in [tp for tp in group.offsets if tp.topic == name]:
                del group.offsets[tp]
        self._topology_changed(name)

    def topics(self) -> set[str]:
        """Names of the existing topics."""
        return set(self._topics)

    def partitions_for(self, topic: str) -> set[int] | None:
        """Partition ids of ``topic``, ``None`` if it does not exist."""
        logs = self._topics.get(topic)
        return None if logs is None else set(range(len(logs)))

    def _partition_ids(self, topic: str, count: int) -> list[int]:
        ids = self._ids.get(topic)
        if ids is None or len(ids) != count:
            ids = self._ids[topic] = list(range(count))
        return ids

    def _topic(self, name: str) -> list[PartitionLog]:
        logs = self._topics.get(name)
        if logs is None:
            raise UnknownTopicOrPartitionError(f"topic {name!r}")
        return logs

    def _ensure_topic(self, name: str) -> list[PartitionLog]:
        """The topic's partitions, auto-creating it as a broker would (if allowed)."""
        logs = self._topics.get(name)
        if logs is None:
            if not self.auto_create_topics:
                raise UnknownTopicOrPartitionError(f"topic {name!r} (auto-creation is off)")
            self.create_topic(name)
            logs = self._topics[name]
        return logs

    async def _await_topic(self, name: str, timeout_s: float, backoff_s: float = 0.1) -> list[PartitionLog]:
        """The topic's partitions as a client gets them from metadata.

        With auto-creation on, created at once; off, the client polls metadata until
        ``request_timeout_ms`` (``timeout_s``) and then raises ``UnknownTopicOrPartitionError``,
        as aiokafka's ``_wait_on_metadata`` does (a topic created meanwhile is found).
        """
        logs = self._topics.get(name)
        if logs is not None or self.auto_create_topics:
            return self._ensure_topic(name)
        deadline = time.monotonic() + timeout_s
        while True:
            await asyncio.sleep(backoff_s)
            logs = self._topics.get(name)
            if logs is not None:
                return logs
            if time.monotonic() > deadline:
                raise UnknownTopicOrPartitionError()

    def _log(self, tp: TopicPartition) -> PartitionLog | None:
        logs = self._topics.get(tp.topic)
        if logs is None or not 0 <= tp.partition < len(logs):
            return None
        return logs[tp.partition]

    def _topology_changed(self, topic: str) -> None:
        """Tell subscribers of ``topic`` (by name or pattern) that partitions changed."""
        for consumer in list(self._consumers):
            consumer._topology_changed(topic)

    # --- offsets and records (inspection) ---
    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        """The next offset of every partition of ``topic``."""
        return {TopicPartition(topic, p): log.end_offset for p, log in enumerate(self._topic(topic))}

    def records(self, topic: str, partition: int | None = None) -> list[ConsumerRecord[bytes, bytes]]:
        """The stored records of ``topic`` (one partition, or all in partition order)."""
        logs = self._topic(topic)
        parts = range(len(logs)) if partition is None else [partition]
        out: list[ConsumerRecord[bytes, bytes]] = []
        for p in parts:
            for offset, rec in enumerate(logs[p].records):
                if rec is not None:
                    out.append(_to_consumer_record(topic, p, offset, rec, None, None))
        return out

    def group(self, group_id: str) -> ConsumerGroup:
        """The consumer group ``group_id`` (created empty if unknown)."""
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = ConsumerGroup(group_id, self)
        return group

    def groups(self) -> set[str]:
        """Ids of the groups that have members or committed offsets."""
        return {g for g, grp in self._groups.items() if grp.members or grp.offsets}

    def committed(self, group_id: str) -> dict[TopicPartition, OffsetAndMetadata]:
        """The committed offsets of ``group_id``."""
        group = self._groups.get(group_id)
        return {} if group is None else dict(group.offsets)

    def delete_group(self, group_id: str) -> None:
        group = self._groups.get(group_id)
        if group is not None and not group.members:
            del self._groups[group_id]

    def _new_member_id(self, client_id: str) -> str:
        return f"{client_id}-{self._rng.getrandbits(128):032x}"

    # --- the write path ---
    def _append(
        self,
        topic: str,
        partition: int,
        plog: PartitionLog,
        record: StoredRecord,
        future: asyncio.Future[RecordMetadata],
        faults: RecordFaults | None,
        owner: object,
    ) -> None:
        """Write one record (applying chaos faults) and resolve its future."""
        if faults is None:
            offset = len(plog.records)
            plog.records.append(record)
            future.set_result(_metadata(topic, partition, offset, record[2], record[4]))
        elif faults.hold:
            plog.held.append(_Held(faults.hold + 1, record, future, owner, faults.duplicate))
        else:
            offset = len(plog.records)
            plog.records.append(None if faults.drop else record)
            if faults.duplicate:
                plog.records.append(record)
            future.set_result(_metadata(topic, partition, offset, record[2], record[4]))
        if plog.held:
            self._count_down(topic, partition, plog)
        if self._waiters:
            self._wake()

    def _count_down(self, topic: str, partition: int, plog: PartitionLog) -> None:
        due = []
        for held in plog.held:
            held.countdown -= 1
            if held.countdown <= 0:
                due.append(held)
        for held in due:
            plog.held.remove(held)
            self._write_held(topic, partition, plog, held)

    def _write_held(self, topic: str, partition: int, plog: PartitionLog, held: _Held) -> None:
        offset = len(plog.records)
        plog.records.append(held.record)
        if held.duplicate:
            plog.records.append(held.record)
        if not held.future.done():
            held.future.set_result(_metadata(topic, partition, offset, held.record[2], held.record[4]))

    def _release_held(
        self, *, owner: object | None = None, future: asyncio.Future[Any] | None = None
    ) -> None:
        """Write held-back records now: all, one owner's, or the one behind ``future``."""
        released = False
        for topic, logs in self._topics.items():
            for partition, plog in enumerate(logs):
                for held in list(plog.held):
                    if (owner is None or held.owner is owner) and (future is None or held.future is future):
                        plog.held.remove(held)
                        self._write_held(topic, partition, plog, held)
                        released = True
        if released and self._waiters:
            self._wake()

    # --- waking consumers ---
    def _wait_for_data(self) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self._waiters) >= 256:  # drop waiters that timed out while nothing was written
            self._waiters = [w for w in self._waiters if not w.done()]
        self._waiters.append(future)
        return future

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


def _clock_ms(clock: Any) -> Callable[[], int]:
    """A function returning the time in whole milliseconds, from a clock or a callable."""
    if clock is None:
        return lambda: time.time_ns() // 1_000_000
    time_ms = getattr(clock, "time_ms", None)
    if callable(time_ms):
        return time_ms  # type: ignore[no-any-return]
    if callable(clock):
        return lambda: int(clock() * 1000)
    raise TypeError(f"clock must have time_ms() or be a callable returning seconds, got {clock!r}")


def _metadata(
    topic: str, partition: int, offset: int, timestamp: int, timestamp_type: int = 0
) -> RecordMetadata:
    return RecordMetadata(
        topic, partition, TopicPartition(topic, partition), offset, timestamp, timestamp_type, 0
    )


def _to_consumer_record(
    topic: str,
    partition: int,
    offset: int,
    rec: StoredRecord,
    key_deserializer: Callable[[bytes | None], Any] | None,
    value_deserializer: Callable[[bytes | None], Any] | None,
) -> ConsumerRecord[Any, Any]:
    key, value, timestamp, headers, timestamp_type = rec
    return ConsumerRecord(
        topic,
        partition,
        offset,
        timestamp,
        timestamp_type,
        key_deserializer(key) if key_deserializer is not None else key,
        value_deserializer(value) if value_deserializer is not None else value,
        None,
        len(key) if key is not None else -1,
        len(value) if value is not None else -1,
        headers,
    )
