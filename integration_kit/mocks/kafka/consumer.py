"""``MockKafkaConsumer``: ``AIOKafkaConsumer``'s API on a :class:`MockKafkaCluster`."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import (
    CommitFailedError,
    ConsumerStoppedError,
    IllegalOperation,
    IllegalStateError,
    KafkaTimeoutError,
    NoOffsetForPartitionError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.kafka.cluster import MockKafkaCluster, PartitionLog
from integration_kit.mocks.kafka.groups import ConsumerGroup
from integration_kit.mocks.kafka.producer import _bound_cluster, _check_options

__all__ = ["MockKafkaConsumer"]

log = logging.getLogger(__name__)

_OPTIONS = frozenset(inspect.signature(AIOKafkaConsumer.__init__).parameters) - {"self", "topics"}
_RESETS = ("earliest", "latest", "none")
_MUTUALLY_EXCLUSIVE = "Subscription to topics, partitions and pattern are mutually exclusive"


class MockKafkaConsumer:
    """An in-memory stand-in for :class:`aiokafka.AIOKafkaConsumer`.

    Same constructor options and methods. With a ``group_id`` it joins the cluster's
    consumer group and gets partitions by the group's assignor (aiokafka's default
    ``RoundRobinPartitionAssignor``, or ``partition_assignment_strategy``), with
    rebalance listener callbacks; positions start at the group's committed offsets,
    else at ``auto_offset_reset``. ``enable_auto_commit`` commits the consumed
    positions every ``auto_commit_interval_ms``, before a rebalance and on ``stop()``.
    """

    _bound_cluster: ClassVar[MockKafkaCluster | None] = None

    def __init__(self, *topics: str, cluster: MockKafkaCluster | None = None, **options: Any) -> None:
        _check_options(type(self).__name__, options, _OPTIONS)
        self._cluster = _bound_cluster(self, cluster, "consumer")
        max_poll_records = options.get("max_poll_records")
        if max_poll_records is not None and (not isinstance(max_poll_records, int) or max_poll_records < 1):
            raise ValueError("`max_poll_records` should be positive Integer")
        reset = options.get("auto_offset_reset", "latest")
        self._reset = reset if reset in _RESETS else "none"
        self._group_id: str | None = options.get("group_id")
        self.client_id: str = options.get("client_id") or "aiokafka-mock"
        self._key_deserializer: Callable[[bytes | None], Any] | None = options.get("key_deserializer")
        self._value_deserializer: Callable[[bytes | None], Any] | None = options.get("value_deserializer")
        self._enable_auto_commit: bool = options.get("enable_auto_commit", True)
        self._request_timeout_s: float = options.get("request_timeout_ms", 40000) / 1000
        self._auto_commit_interval = options.get("auto_commit_interval_ms", 5000) / 1000
        self._max_poll_records: int | None = max_poll_records
        self._exclude_internal = options.get("exclude_internal_topics", True)
        self._assignors = tuple(options.get("partition_assignment_strategy", (RoundRobinPartitionAssignor,)))
        if options.get("isolation_level", "read_uncommitted") not in ("read_uncommitted", "read_committed"):
            raise ValueError(f"Incorrect isolation level {options.get('isolation_level')}")
        self.member_id = ""
        # subscription: None, ("topics", set), ("pattern", re.Pattern) or ("assigned", set)
        self._sub_kind: str | None = None
        self._sub_topics: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._listener: ConsumerRebalanceListener | None = None
        self._positions: dict[TopicPartition, int | None] = {}
        self._assigned: bool = False  # whether an assignment (maybe empty) is in force
        self._order: list[TopicPartition] = []
        self._cursor = 0
        self._paused: set[TopicPartition] = set()
        self._highwater: dict[TopicPartition, int] = {}
        self._poll_ms: dict[TopicPartition, int] = {}
        self._generation = -1
        self._listener_task: asyncio.Task[Any] | None = None
        self._group: ConsumerGroup | None = None
        self._pending: asyncio.Task[None] | None = None
        self._rejoin_needed = False
        self._last_autocommit = 0.0
        self._started = False
        self._closed = False
        if topics:
            self.subscribe(topics=list(topics))

    # --- lifecycle ---
    async def start(self) -> None:
        """Connect, auto-create subscribed topics, join the group (and wait for assignment)."""
        assert not self._started, "Did you call `start` twice?"
        error = self._cluster._chaos.connect_error("consumer")
        if error is not None:
            raise error
        if self._sub_kind == "topics":
            for topic in self._sub_topics:
                await self._cluster._await_topic(topic, self._request_timeout_s)
        self._started = True
        self._last_autocommit = asyncio.get_running_loop().time()
        self._cluster._consumers.append(self)
        if self._sub_kind in ("topics", "pattern"):
            await self._join_or_assign_all()
        elif self._sub_kind == "assigned":
            self._reset_positions(set(self._positions))

    async def stop(self) -> None:
        """Commit (if auto-commit is on), leave the group and close."""
        if self._closed:
            return
        if self._started and self._group_id is not None and self._enable_auto_commit and self._assigned:
            self._commit_positions()
        self._closed = True
        if self in self._cluster._consumers:
            self._cluster._consumers.remove(self)
        self._cluster._wake()
        if self._group is not None:
            group, self._group = self._group, None
            await group.leave(self)

    async def __aenter__(self) -> MockKafkaConsumer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- subscription ---
    def subscribe(
        self,
        topics: Iterable[str] = (),
        pattern: str | None = None,
        listener: ConsumerRebalanceListener | None = None,
    ) -> None:
        """Subscribe to topics or a regex pattern; partitions come from the group."""
        if not (topics or pattern):
            raise TypeError("You should provide either `topics` or `pattern`")
        if topics and pattern:
            raise TypeError("You can't provide both `topics` and `pattern`")
        if listener is not None and not isinstance(listener, ConsumerRebalanceListener):
            raise TypeError("listener should be an instance of ConsumerRebalanceListener")
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as err:
                raise ValueError(f"{pattern!r} is not a valid pattern: {err}") from err
            self._set_kind("pattern")
            self._pattern = compiled
            self._sub_topics = frozenset()
        else:
            if not isinstance(topics, tuple | set | list | frozenset):
                raise TypeError("Topics should be list of strings")
            self._set_kind("topics")
            self._pattern = None
            self._sub_topics = frozenset(topics)
        self._listener = listener
        if self._started and not self._closed:
            if self._sub_kind == "topics":
                for topic in self._sub_topics:
                    self._cluster._ensure_topic(topic)
            self._schedule_rejoin()

    def _set_kind(self, kind: str) -> None:
        if self._sub_kind not in (None, kind):
            raise IllegalStateError(_MUTUALLY_EXCLUSIVE)
        self._sub_kind = kind

    def subscription(self) -> frozenset[str]:
        """The subscribed topics (for a pattern: the matching topics)."""
        return (
            frozenset(self._subscribed_topics()) if self._sub_kind in ("topics", "pattern") else frozenset()
        )

    def unsubscribe(self) -> None:
        """Drop the subscription and the assignment (and leave the group)."""
        self._sub_kind = None
        self._sub_topics = frozenset()
        self._pattern = None
        self._listener = None
        self._set_assignment(set())
        self._assigned = False
        if self._group is not None:
            group, self._group = self._group, None
            if self._started and not self._closed:
                self._pending = asyncio.get_running_loop().create_task(group.leave(self))

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Assign partitions by hand (no group membership, no rebalances)."""
        partitions = list(partitions)
        self._set_kind("assigned")
        self._sub_topics = frozenset(tp.topic for tp in partitions)
        self._set_assignment(set(partitions))
        self._assigned = True
        if self._started:
            self._reset_positions(set(partitions))

    def assignment(self) -> set[TopicPartition]:
        """The partitions assigned now (by ``assign`` or by the group)."""
        return set(self._positions)

    def _subscribed_topics(self) -> set[str]:
        if self._sub_kind == "pattern" and self._pattern is not None:
            return {
                t
                for t in self._cluster.topics()
                if self._pattern.match(t) and not (self._exclude_internal and t.startswith("__"))
            }
        return set(self._sub_topics)

    # --- group protocol (called by ConsumerGroup) ---
    @property
    def _in_listener(self) -> bool:
        """Whether the running task is inside this consumer's rebalance listener callback."""
        return self._listener_task is not None and asyncio.current_task() is self._listener_task

    def _assignor_names(self) -> list[str]:
        return [a.name for a in self._assignors]

    def _assignor(self, name: str) -> Any:
        return next(a for a in self._assignors if a.name == name)

    async def _on_revoke(self) -> None:
        previous = set(self._positions) if self._assigned else set()
        if not self._closed:
            if self._assigned and self._enable_auto_commit:
                self._commit_positions()
            await self._call_listener("on_partitions_revoked", previous)
        self._set_assignment(set())
        self._assigned = False

    async def _on_assign(self, partitions: set[TopicPartition], generation: int) -> None:
        if self._closed or self._group is None:
            return
        self._generation = generation
        self._set_assignment(partitions)
        self._reset_positions(partitions)
        self._assigned = True
        self._cluster._wake()
        await self._call_listener("on_partitions_assigned", set(partitions))

    async def _call_listener(self, method: str, partitions: set[TopicPartition]) -> None:
        if self._listener is None:
            return
        self._listener_task = asyncio.current_task()
        try:
            result = getattr(self._listener, method)(partitions)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("User provided listener %s failed %s", self._listener, method)
        finally:
            self._listener_task = None

    async def _join_or_assign_all(self) -> None:
        if self._closed:
            return
        if self._group_id is not None:
            if self._group is None:
                self._group = self._cluster.group(self._group_id)
                self.member_id = self._cluster._new_member_id(self.client_id)
                await self._group.join(self)
            else:
                await self._group.rebalance()
        else:
            partitions = {
                TopicPartition(t, p)
                for t in self._subscribed_topics()
                for p in sorted(self._cluster.partitions_for(t) or ())
            }
            kept = {tp: pos for tp, pos in self._positions.items() if tp in partitions}
            self._set_assignment(partitions)
            self._reset_positions(partitions - set(kept))
            self._positions.update(kept)
            self._assigned = True
            self._cluster._wake()

    def _schedule_rejoin(self) -> None:
        if self._group is not None:
            self._group._dirty = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # changed from sync code: rejoin on the next call that settles
            self._rejoin_needed = True
            return
        self._pending = loop.create_task(self._join_or_assign_all())

    def _topology_changed(self, topic: str) -> None:
        """A topic was created, grown or deleted: rebalance if the subscription covers it."""
        if self._closed or not self._started or self._sub_kind not in ("topics", "pattern"):
            return
        covered = topic in self._sub_topics or (
            self._sub_kind == "pattern"
            and self._pattern is not None
            and self._pattern.match(topic) is not None
        )
        if covered:
            self._schedule_rejoin()

    async def _settle(self) -> None:
        """Wait for a rejoin started by a sync call (subscribe, unsubscribe, topic changes)."""
        if self._rejoin_needed:
            self._rejoin_needed = False
            await self._join_or_assign_all()
        while self._pending is not None and not self._pending.done():
            await asyncio.shield(self._pending)
        if self._group is not None and self._group.rebalancing and not self._in_listener:
            await self._group.rebalance()

    # --- positions ---
    def _set_assignment(self, partitions: set[TopicPartition]) -> None:
        self._positions = dict.fromkeys(sorted(partitions))
        self._order = list(self._positions)
        self._cursor = 0
        self._paused &= partitions

    def _reset_positions(self, partitions: set[TopicPartition]) -> None:
        group = self._cluster._groups.get(self._group_id) if self._group_id is not None else None
        for tp in partitions:
            committed = group.committed(tp) if group is not None else None
            if committed is not None and committed.offset >= 0:
                self._positions[tp] = committed.offset
            else:
                self._positions[tp] = self._reset_offset(tp, self._reset)

    def _reset_offset(self, tp: TopicPartition, strategy: str) -> int | None:
        plog = self._cluster._log(tp)
        if strategy == "earliest":
            return 0
        if strategy == "latest":
            return plog.end_offset if plog is not None else 0
        return None

    def _assigned_state(self, tp: TopicPartition) -> None:
        if tp not in self._positions:
            raise IllegalStateError(f"No current assignment for partition {tp}")

    # --- fetching ---
    def _check_usable(self, operation: str) -> None:
        if self._closed:
            raise ConsumerStoppedError()
        if not self._started:
            raise MockError(ErrorCode.MOCK_KAFKA_NOT_STARTED, client="consumer", operation=operation)

    def _collect(
        self, partitions: tuple[TopicPartition, ...], limit: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        out: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        order = self._order
        if not order:
            return out
        positions = self._positions
        cluster = self._cluster
        n = len(order)
        start = self._cursor % n
        remaining = limit if limit is not None else 1 << 62
        kd, vd = self._key_deserializer, self._value_deserializer
        now_ms = cluster._now_ms()
        for i in range(n):
            if remaining <= 0:
                break
            tp = order[(start + i) % n]
            if partitions and tp not in partitions:
                continue
            if tp in self._paused:
                continue
            pos = positions.get(tp)
            plog: PartitionLog | None = cluster._log(tp)
            if plog is None:
                continue
            records = plog.records
            end = len(records)
            if pos is None:
                raise NoOffsetForPartitionError(tp)
            if pos > end:
                pos = self._reset_offset(tp, self._reset)
                if pos is None:
                    raise NoOffsetForPartitionError(tp)
            if pos >= end:
                self._highwater[tp] = end
                self._poll_ms[tp] = now_ms
                continue
            stop = min(end, pos + remaining)
            topic, partition = tp
            if kd is None and vd is None:
                batch = [
                    ConsumerRecord(
                        topic,
                        partition,
                        offset,
                        rec[2],
                        rec[4],
                        rec[0],
                        rec[1],
                        None,
                        -1 if rec[0] is None else len(rec[0]),
                        -1 if rec[1] is None else len(rec[1]),
                        rec[3],
                    )
                    for offset, rec in zip(range(pos, stop), records[pos:stop], strict=True)
                    if rec is not None
                ]
            else:
                batch = [
                    ConsumerRecord(
                        topic,
                        partition,
                        offset,
                        rec[2],
                        rec[4],
                        kd(rec[0]) if kd is not None else rec[0],
                        vd(rec[1]) if vd is not None else rec[1],
                        None,
                        len(rec[0]) if rec[0] is not None else -1,
                        len(rec[1]) if rec[1] is not None else -1,
                        rec[3],
                    )
                    for offset, rec in zip(range(pos, stop), records[pos:stop], strict=True)
                    if rec is not None
                ]
            positions[tp] = stop
            self._highwater[tp] = end
            self._poll_ms[tp] = now_ms
            if batch:
                out[tp] = batch
                remaining -= len(batch)
                self._cursor = (start + i + 1) % n
        return out

    def _maybe_autocommit(self) -> None:
        if not (self._enable_auto_commit and self._group_id is not None and self._assigned):
            return
        now = asyncio.get_running_loop().time()
        if now - self._last_autocommit >= self._auto_commit_interval:
            self._last_autocommit = now
            if self._sub_kind == "assigned" or (self._group is not None and not self._group.rebalancing):
                self._commit_positions()

    async def getone(self, *partitions: TopicPartition) -> ConsumerRecord[Any, Any]:
        """The next record (waits for one), from ``partitions`` or any assigned one."""
        assert all(isinstance(k, TopicPartition) for k in partitions)
        self._check_usable("getone")
        while True:
            await self._settle()
            self._maybe_autocommit()
            got = self._collect(partitions, 1)
            if got:
                return next(iter(got.values()))[0]
            waiter = self._cluster._wait_for_data()
            await waiter
            if self._closed:
                raise ConsumerStoppedError()

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        """Records by partition; waits up to ``timeout_ms`` when none are there yet."""
        assert all(isinstance(k, TopicPartition) for k in partitions)
        self._check_usable("getmany")
        if max_records is not None and (not isinstance(max_records, int) or max_records < 1):
            raise ValueError("`max_records` must be a positive Integer")
        limit = max_records or self._max_poll_records
        await self._settle()
        self._maybe_autocommit()
        got = self._collect(partitions, limit)
        if got or timeout_ms <= 0:
            return got
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {}
            waiter = self._cluster._wait_for_data()
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return {}
            if self._closed:
                raise ConsumerStoppedError()
            await self._settle()
            got = self._collect(partitions, limit)
            if got:
                return got

    def __aiter__(self) -> MockKafkaConsumer:
        if self._closed:
            raise ConsumerStoppedError()
        return self

    async def __anext__(self) -> ConsumerRecord[Any, Any]:
        try:
            return await self.getone()
        except ConsumerStoppedError:
            raise StopAsyncIteration from None

    # --- offsets ---
    def _commit_positions(self) -> None:
        group = self._cluster.group(self._group_id) if self._group_id is not None else None
        if group is None:
            return
        cluster = self._cluster
        group.commit(
            (tp, OffsetAndMetadata(pos, ""))
            for tp, pos in self._positions.items()
            if pos is not None and cluster._log(tp) is not None
        )

    async def commit(self, offsets: Mapping[TopicPartition, Any] | None = None) -> None:
        """Commit the consumed positions, or ``offsets`` (``{tp: offset | (offset, metadata)}``)."""
        if self._group_id is None:
            raise IllegalOperation("Requires group_id")
        if self._sub_kind is None:
            raise IllegalStateError("Not subscribed to any topics")
        self._check_usable("commit")
        checked = None if offsets is None else _validate_offsets(offsets)
        group = self._cluster.group(self._group_id)
        if (
            self._sub_kind != "assigned"
            and not self._in_listener
            and (group.rebalancing or (self._pending is not None and not self._pending.done()))
        ):
            raise CommitFailedError("the group is rebalancing")
        if not self._assigned:
            raise IllegalStateError("No partitions assigned")
        if checked is None:
            to_commit = {
                tp: OffsetAndMetadata(pos, "") for tp, pos in self._positions.items() if pos is not None
            }
        else:
            to_commit = checked
            for tp in to_commit:
                if tp not in self._positions:
                    raise IllegalStateError(f"Partition {tp} is not assigned")
        error = self._cluster._chaos.commit_error(self._group_id)
        if error is not None:
            raise error
        if self._sub_kind != "assigned" and self._generation != group.generation:
            raise CommitFailedError(f"generation {self._generation} is stale (group at {group.generation})")
        for tp in to_commit:
            if self._cluster._log(tp) is None:
                raise UnknownTopicOrPartitionError(f"cannot commit {tp}: no such partition")
        group.commit(to_commit.items())

    async def committed(self, partition: TopicPartition) -> int | None:
        """The group's committed offset of ``partition`` (``None`` if none)."""
        if self._group_id is None:
            raise IllegalOperation("Requires group_id")
        group = self._cluster._groups.get(self._group_id)
        meta = group.committed(partition) if group is not None else None
        return None if meta is None or meta.offset == -1 else meta.offset

    async def position(self, partition: TopicPartition) -> int:
        """The offset of the next record this consumer will get from ``partition``."""
        self._check_usable("position")
        await self._settle()
        self._assigned_state_public(partition)
        pos = self._positions[partition]
        if pos is None:
            raise NoOffsetForPartitionError(partition)
        end = self._cluster._log(partition)
        if end is not None and pos > end.end_offset:
            reset = self._reset_offset(partition, self._reset)
            if reset is not None:
                self._positions[partition] = pos = reset
        return pos

    def _assigned_state_public(self, tp: TopicPartition) -> None:
        if tp not in self._positions:
            raise IllegalStateError(f"Partition {tp} is not assigned")

    def highwater(self, partition: TopicPartition) -> int | None:
        assert partition in self._positions, "Partition is not assigned"
        return self._highwater.get(partition)

    def last_stable_offset(self, partition: TopicPartition) -> int | None:
        assert partition in self._positions, "Partition is not assigned"
        return self._highwater.get(partition)

    def last_poll_timestamp(self, partition: TopicPartition) -> int | None:
        """When (ms) the partition's highwater was last updated by a fetch."""
        assert partition in self._positions, "Partition is not assigned"
        return self._poll_ms.get(partition)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Fetch from ``offset`` next."""
        if not isinstance(offset, int) or offset < 0:
            raise ValueError("Offset must be a positive integer")
        self._assigned_state(partition)
        self._positions[partition] = offset

    def _seek_targets(self, partitions: tuple[TopicPartition, ...]) -> Iterable[TopicPartition]:
        if not all(isinstance(p, TopicPartition) for p in partitions):
            raise TypeError("partitions must be TopicPartition instances")
        if not partitions:
            assigned = set(self._positions)
            assert assigned, "No partitions are currently assigned"
            return assigned
        not_assigned = set(partitions) - set(self._positions)
        if not_assigned:
            raise IllegalStateError(f"Partitions {not_assigned} are not assigned")
        return partitions

    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool:
        for tp in self._seek_targets(partitions):
            self._positions[tp] = 0
        return True

    async def seek_to_end(self, *partitions: TopicPartition) -> bool:
        for tp in self._seek_targets(partitions):
            self._positions[tp] = self._reset_offset(tp, "latest")
        return True

    async def seek_to_committed(self, *partitions: TopicPartition) -> dict[TopicPartition, int | None]:
        targets = list(self._seek_targets(partitions))
        result: dict[TopicPartition, int | None] = {}
        for tp in targets:
            offset = await self.committed(tp)
            result[tp] = offset
            if offset and offset > 0:
                self._positions[tp] = offset
        return result

    async def beginning_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 0 for tp in partitions if self._cluster._log(tp) is not None}

    async def end_offsets(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        """End offsets; a partition that does not exist keeps the call waiting for metadata until
        ``request_timeout_ms``, then ``KafkaTimeoutError``, as aiokafka does against a broker."""
        out = {}
        for tp in partitions:
            plog = self._cluster._log(tp)
            if plog is None:
                await asyncio.sleep(self._request_timeout_s)
                plog = self._cluster._log(tp)  # created meanwhile: answered like the real client
                if plog is None:
                    raise KafkaTimeoutError()
            out[tp] = plog.end_offset
        return out

    async def offsets_for_times(
        self, timestamps: dict[TopicPartition, int]
    ) -> dict[TopicPartition, OffsetAndTimestamp | None]:
        out: dict[TopicPartition, OffsetAndTimestamp | None] = {}
        for tp, ts in timestamps.items():
            if ts < 0:
                raise ValueError(
                    f"The target time for partition {tp} is {ts}. The target time cannot be negative."
                )
            plog = self._cluster._log(tp)
            found = None
            if plog is not None:
                for offset, rec in enumerate(plog.records):
                    if rec is not None and rec[2] >= ts:
                        found = OffsetAndTimestamp(offset, rec[2])
                        break
            out[tp] = found
        return out

    # --- metadata ---
    async def topics(self) -> set[str]:
        return self._cluster.topics()

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._cluster.partitions_for(topic)

    # --- pausing ---
    def pause(self, *partitions: TopicPartition) -> None:
        if not all(isinstance(p, TopicPartition) for p in partitions):
            raise TypeError("partitions must be TopicPartition namedtuples")
        for tp in partitions:
            self._assigned_state(tp)
            self._paused.add(tp)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    def resume(self, *partitions: TopicPartition) -> None:
        if not all(isinstance(p, TopicPartition) for p in partitions):
            raise TypeError("partitions must be TopicPartition namedtuples")
        for tp in partitions:
            self._assigned_state(tp)
            self._paused.discard(tp)
        self._cluster._wake()


def _validate_offsets(offsets: Mapping[TopicPartition, Any]) -> dict[TopicPartition, OffsetAndMetadata]:
    """aiokafka's ``commit_structure_validate``: ``{tp: offset | (offset, metadata)}``."""
    if not offsets or not isinstance(offsets, dict):
        raise ValueError(offsets)
    out = {}
    for tp, value in offsets.items():
        if not isinstance(tp, TopicPartition):
            raise ValueError(offsets)
        if isinstance(value, int):
            offset, metadata = value, ""
        else:
            try:
                offset, metadata = value
            except Exception as exc:
                raise ValueError(offsets) from exc
            if not isinstance(offset, int) or not isinstance(metadata, str):
                raise ValueError(offsets)
        out[tp] = OffsetAndMetadata(offset, metadata)
    return out
