"""``MockKafkaProducer``: ``AIOKafkaProducer``'s API on a :class:`MockKafkaCluster`."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import IllegalOperation, MessageSizeTooLargeError, UnknownError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import RecordMetadata

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.kafka.cluster import MockKafkaCluster

__all__ = ["MockKafkaProducer"]

_OPTIONS = frozenset(inspect.signature(AIOKafkaProducer.__init__).parameters) - {"self"}
_BYTES = (bytes, bytearray, memoryview)
_new_tuple = tuple.__new__
_time_ns = time.time_ns
_get_running_loop = asyncio.get_running_loop


_estimate_size = DefaultRecordBatchBuilder.estimate_size_in_bytes  # what aiokafka compares to its limits
_SIZE_SLACK = 128  # more than a one-record batch's overhead: below it, no estimate is needed


def _as_bytes(data: Any, what: str) -> bytes:
    if not isinstance(data, _BYTES):
        raise TypeError(f"Not supported type for {what}: {type(data)}")
    return bytes(data)


def _check_options(cls_name: str, options: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"{cls_name}.__init__() got an unexpected keyword argument {unknown[0]!r}")


def _bound_cluster(obj: Any, cluster: MockKafkaCluster | None, client: str) -> MockKafkaCluster:
    if cluster is None:
        cluster = getattr(type(obj), "_bound_cluster", None)
    if cluster is None:
        raise MockError(ErrorCode.MOCK_KAFKA_NO_CLUSTER, client=client)
    return cluster


class MockKafkaProducer:
    """An in-memory stand-in for :class:`aiokafka.AIOKafkaProducer`.

    Takes the same keyword options (those that only tune the network are accepted and
    ignored), serializes keys and values with the given serializers, picks partitions
    with aiokafka's default partitioner (murmur2 on the key bytes; a seeded random
    choice for null keys) or the ``partitioner`` passed, and writes to the cluster at
    once. ``send`` returns a future resolved with a
    :class:`aiokafka.structs.RecordMetadata`, like the real one.
    """

    _bound_cluster: ClassVar[MockKafkaCluster | None] = None

    def __init__(self, *, cluster: MockKafkaCluster | None = None, **options: Any) -> None:
        _check_options(type(self).__name__, options, _OPTIONS)
        self._cluster = _bound_cluster(self, cluster, "producer")
        if options.get("transactional_id") is not None:
            raise MockError(ErrorCode.MOCK_KAFKA_UNSUPPORTED, feature="transactions (transactional_id)")
        acks = options.get("acks", 1)
        if acks not in (0, 1, -1, "all"):
            raise ValueError("Invalid ACKS parameter")
        if options.get("compression_type") not in ("gzip", "snappy", "lz4", "zstd", None):
            raise ValueError("Invalid compression type!")
        self._key_serializer: Callable[[Any], bytes | None] | None = options.get("key_serializer")
        self._value_serializer: Callable[[Any], bytes | None] | None = options.get("value_serializer")
        self._partitioner: Callable[..., int] = options.get("partitioner") or self._cluster.partitioner
        # With the default partitioner, keyed records take a fast path through its hash cache.
        self._key_hashes = (
            self._cluster.partitioner.hashes if self._partitioner is self._cluster.partitioner else None
        )
        self._max_request_size: int = options.get("max_request_size", 1048576)
        self._request_timeout_s: float = options.get("request_timeout_ms", 40000) / 1000
        self._retry_backoff_s: float = options.get("retry_backoff_ms", 100) / 1000
        self.client_id: str = options.get("client_id") or "aiokafka-producer-mock"
        self._started = False
        self._closed = False

    # --- lifecycle ---
    async def start(self) -> None:
        """Connect (chaos may refuse with ``KafkaConnectionError``/``NodeNotReadyError``)."""
        error = self._cluster._chaos.connect_error("producer")
        if error is not None:
            raise error
        self._started = True

    async def flush(self) -> None:
        """Write out every record this producer's chaos reordering still holds back."""
        self._cluster._release_held(owner=self)

    async def stop(self) -> None:
        """Flush and close."""
        if self._closed:
            return
        self._closed = True
        self._cluster._release_held(owner=self)

    async def __aenter__(self) -> MockKafkaProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- metadata ---
    async def partitions_for(self, topic: str) -> set[int]:
        """Partition ids of ``topic`` (auto-created where the cluster allows)."""
        self._check_started("partitions_for")
        logs = await self._cluster._await_topic(topic, self._request_timeout_s, self._retry_backoff_s)
        return set(range(len(logs)))

    # --- sending ---
    def _check_started(self, operation: str) -> None:
        if not self._started or self._closed:
            raise MockError(ErrorCode.MOCK_KAFKA_NOT_STARTED, client="producer", operation=operation)

    async def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[RecordMetadata]:
        """Publish a record; returns a future resolved with its ``RecordMetadata``."""
        if not self._started or self._closed:
            self._check_started("send")
        assert not (value is None and key is None), "Need at least one: key or value"
        cluster = self._cluster
        logs = cluster._topics.get(topic)
        if logs is None:
            logs = await cluster._await_topic(topic, self._request_timeout_s, self._retry_backoff_s)
        if self._key_serializer is not None:
            key = self._key_serializer(key)
        if self._value_serializer is not None:
            value = self._value_serializer(value)
        if key is not None and key.__class__ is not bytes:
            key = _as_bytes(key, "key")
        if value is not None and value.__class__ is not bytes:
            value = _as_bytes(value, "value")
        if partition is None:
            hashes = self._key_hashes
            if key is not None and hashes is not None:
                h = hashes.get(key)
                if h is None:
                    h = self._cluster.partitioner.hash(key)
                partition = h % len(logs)
            else:
                ids = cluster._partition_ids(topic, len(logs))
                partition = self._partitioner(key, ids, ids)
        elif not 0 <= partition < len(logs):
            raise AssertionError("Unrecognized partition")
        headers = tuple(headers) if headers else ()
        if cluster._configs:  # topics created with configs: the broker's rules
            compacted, log_append_time, max_bytes = cluster._rules(topic)
        else:
            compacted, log_append_time, max_bytes = False, False, cluster.message_max_bytes
        raw = (len(key) if key is not None else 0) + (len(value) if value is not None else 0)
        size = raw
        if headers or raw + _SIZE_SLACK > min(self._max_request_size, max_bytes):
            size = _estimate_size(key, value, list(headers))
            if size > self._max_request_size:  # aiokafka checks this in send(), before any request
                raise MessageSizeTooLargeError(
                    f"The message is {size} bytes when serialized which is larger than the maximum "
                    "request size you have configured with the max_request_size configuration"
                )
        timestamp_type = 0
        if compacted or log_append_time or size > max_bytes:
            refusal = None
            if size > max_bytes:
                refusal = MessageSizeTooLargeError()
            elif compacted and key is None:
                refusal = UnknownError()  # INVALID_RECORD (87), which aiokafka has no class for
            if refusal is not None:
                failed: asyncio.Future[RecordMetadata] = _get_running_loop().create_future()
                failed.set_exception(refusal)
                return failed
            if log_append_time:
                timestamp_ms, timestamp_type = None, 1
        if timestamp_ms is None:
            timestamp_ms = _time_ns() // 1_000_000 if cluster._real_clock else cluster._now_ms()
        record = (key, value, timestamp_ms, headers, timestamp_type)
        future: asyncio.Future[RecordMetadata] = _get_running_loop().create_future()
        if cluster._chaos.config is None:
            plog = logs[partition]
            records = plog.records
            offset = len(records)
            records.append(record)
            future.set_result(
                _new_tuple(
                    RecordMetadata, (topic, partition, plog.tp, offset, timestamp_ms, timestamp_type, 0)
                )
            )
            if plog.held:
                cluster._count_down(topic, partition, plog)
            if cluster._waiters:
                cluster._wake()
            return future
        faults = cluster._chaos.record_faults(topic, partition)
        if faults.error is not None:
            raise faults.error
        if faults.delay_s:
            await asyncio.sleep(faults.delay_s)
        plog = cluster._topic(topic)[partition]
        cluster._append(topic, partition, plog, record, future, faults, self)
        return future

    async def send_and_wait(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Iterable[tuple[str, bytes]] | None = None,
    ) -> RecordMetadata:
        """Publish a record and wait for its ``RecordMetadata``."""
        future = await self.send(topic, value, key, partition, timestamp_ms, headers)
        if not future.done():
            self._cluster._release_held(future=future)
        return await future

    # --- unsupported: transactions and batches ---
    def _unsupported(self, feature: str) -> MockError:
        return MockError(ErrorCode.MOCK_KAFKA_UNSUPPORTED, feature=feature)

    async def begin_transaction(self) -> None:
        raise IllegalOperation("You need to configure transaction_id to use transactions")

    def create_batch(self) -> Any:
        raise self._unsupported("batches (create_batch/send_batch)")

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> Any:
        raise self._unsupported("batches (create_batch/send_batch)")
