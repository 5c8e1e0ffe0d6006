"""Scenarios that must come out the same on the mock cluster and on a real broker."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import (
    IllegalOperation,
    IllegalStateError,
    KafkaTimeoutError,
    UnknownTopicOrPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition

from integration_kit.waiting import wait_until

pytestmark = pytest.mark.fidelity("kafka: clients")


async def _drain(consumer, count: int, *, timeout: float = 20.0) -> list[ConsumerRecord]:
    """Read exactly ``count`` records (fails on timeout)."""
    records: list[ConsumerRecord] = []

    async def more() -> bool:
        batch = await consumer.getmany(timeout_ms=200)
        for recs in batch.values():
            records.extend(recs)
        return len(records) >= count

    await wait_until(more, equals=True, timeout=timeout, what=f"{count} records")
    return records


def _random_keys(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    keys = {rng.randbytes(rng.randint(1, 40)) for _ in range(n * 2)}
    return sorted(keys)[:n]


@pytest.mark.parametrize("partitions", [6, 7])
async def test_partition_choice_for_random_keys_matches_aiokafka(kafka: Any, partitions: int) -> None:
    topic = await kafka.create_topic("keys", partitions)
    keys = _random_keys(1000, seed=partitions)
    async with kafka.producer() as producer:
        futures = [await producer.send(topic, b"v", key=key) for key in keys]
        metadata: list[RecordMetadata] = list(await asyncio.gather(*futures))
    reference = DefaultPartitioner()
    all_partitions = list(range(partitions))
    expected = [reference(key, all_partitions, all_partitions) for key in keys]
    assert [md.partition for md in metadata] == expected

    consumer = kafka.consumer(topic, auto_offset_reset="earliest")
    await consumer.start()
    records = await _drain(consumer, len(keys))
    assert {r.key: r.partition for r in records} == dict(zip(keys, expected, strict=True))


async def test_record_fields_serializers_headers_timestamps(kafka: Any) -> None:
    topic = await kafka.create_topic("fields", 3)
    producer = kafka.producer(
        key_serializer=lambda k: k.encode(), value_serializer=lambda v: json.dumps(v).encode()
    )
    await producer.start()
    md = await producer.send_and_wait(
        topic, {"id": 7}, key="order-7", timestamp_ms=1_700_000_000_123, headers=[("trace", b"abc")]
    )
    assert (md.topic, md.offset, md.timestamp) == (topic, 0, 1_700_000_000_123)
    assert md.topic_partition == TopicPartition(topic, md.partition)
    assert (md.timestamp_type, md.log_start_offset) == (0, 0)
    before = int(time.time() * 1000)
    stamped_now = await producer.send_and_wait(topic, {"id": 9}, key="order-9")
    assert before <= stamped_now.timestamp <= int(time.time() * 1000)
    unkeyed = await producer.send_and_wait(topic, {"id": 8}, key="order-7", partition=(md.partition + 1) % 3)
    assert unkeyed.partition == (md.partition + 1) % 3

    consumer = kafka.consumer(
        topic,
        auto_offset_reset="earliest",
        key_deserializer=lambda k: k.decode(),
        value_deserializer=lambda v: json.loads(v),
    )
    await consumer.start()
    record = await consumer.getone(TopicPartition(topic, md.partition))
    assert isinstance(record, ConsumerRecord)
    assert (record.topic, record.partition, record.offset) == (topic, md.partition, 0)
    assert (record.key, record.value) == ("order-7", {"id": 7})
    assert record.timestamp == 1_700_000_000_123
    assert record.timestamp_type == 0
    assert record.headers == (("trace", b"abc"),)
    assert record.serialized_key_size == len(b"order-7")
    assert record.serialized_value_size == len(b'{"id": 7}')


class _Recorder(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, frozenset[TopicPartition]]] = []

    def on_partitions_revoked(self, revoked):
        self.events.append(("revoked", frozenset(revoked)))

    async def on_partitions_assigned(self, assigned):
        self.events.append(("assigned", frozenset(assigned)))


def _tps(topic: str, *partitions: int) -> frozenset[TopicPartition]:
    return frozenset(TopicPartition(topic, p) for p in partitions)


@pytest.mark.parametrize(
    ("assignor", "shares"),
    [
        # two topics x 3 partitions, two members: the assignors' documented split
        (RangePartitionAssignor, ({"a": (0, 1), "b": (0, 1)}, {"a": (2,), "b": (2,)})),
        (RoundRobinPartitionAssignor, ({"a": (0, 2), "b": (1,)}, {"a": (1,), "b": (0, 2)})),
    ],
)
async def test_group_assignment_and_rebalance(kafka: Any, assignor, shares) -> None:
    t_a = await kafka.create_topic("grp-a", 3)
    t_b = await kafka.create_topic("grp-b", 3)
    names = {"a": t_a, "b": t_b}
    expected = {
        frozenset(TopicPartition(names[t], p) for t, ps in share.items() for p in ps) for share in shares
    }
    everything = _tps(t_a, 0, 1, 2) | _tps(t_b, 0, 1, 2)
    group = kafka.group("grp")
    options = {
        "group_id": group,
        "partition_assignment_strategy": (assignor,),
        "auto_offset_reset": "earliest",
    }

    first_listener = _Recorder()
    first = kafka.consumer(**options)
    first.subscribe([t_a, t_b], listener=first_listener)
    await first.start()
    assert first.assignment() == everything

    second_listener = _Recorder()
    second = kafka.consumer(**options)
    second.subscribe([t_a, t_b], listener=second_listener)
    await second.start()

    async def split() -> set[frozenset[TopicPartition]]:
        await first.getmany(timeout_ms=50)  # lets a real consumer notice the rebalance
        return {frozenset(first.assignment()), frozenset(second.assignment())}

    await wait_until(split, equals=expected, timeout=30, what="the group's split")
    assert first_listener.events == [
        ("revoked", frozenset()),
        ("assigned", everything),
        ("revoked", everything),
        ("assigned", frozenset(first.assignment())),
    ]
    assert second_listener.events == [("revoked", frozenset()), ("assigned", frozenset(second.assignment()))]

    await second.stop()

    async def alone() -> frozenset[TopicPartition]:
        await first.getmany(timeout_ms=50)
        return frozenset(first.assignment())

    await wait_until(alone, equals=everything, timeout=30, what="the survivor takes every partition")
    share = first_listener.events[3][1]
    assert first_listener.events[4:] == [("revoked", share), ("assigned", everything)]


async def test_committed_offsets_survive_consumer_restarts(kafka: Any) -> None:
    topic = await kafka.create_topic("commit", 1)
    tp = TopicPartition(topic, 0)
    async with kafka.producer() as producer:
        for i in range(10):
            await producer.send_and_wait(topic, b"%d" % i)
    group = kafka.group("commit")

    first = kafka.consumer(topic, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    await first.start()
    assert await first.committed(tp) is None
    seen = [(await first.getone()).offset for _ in range(4)]
    assert seen == [0, 1, 2, 3]
    await first.commit()
    assert await first.committed(tp) == 4
    await first.getone()  # read, never committed
    await first.stop()

    second = kafka.consumer(topic, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest")
    await second.start()
    assert await second.committed(tp) == 4
    assert await second.position(tp) == 4
    assert (await second.getone()).offset == 4
    await second.commit({tp: (8, "by hand")})
    await second.stop()

    third = kafka.consumer(topic, group_id=group, enable_auto_commit=True, auto_offset_reset="latest")
    await third.start()
    assert (await third.getone()).offset == 8
    await third.stop()  # auto-commit commits the consumed position on stop

    fourth = kafka.consumer(topic, group_id=group, auto_offset_reset="earliest")
    await fourth.start()
    assert await fourth.committed(tp) == 9


async def test_auto_offset_reset(kafka: Any) -> None:
    topic = await kafka.create_topic("reset", 1)
    tp = TopicPartition(topic, 0)
    producer = kafka.producer()
    await producer.start()
    for i in range(5):
        await producer.send_and_wait(topic, b"old-%d" % i)

    earliest = kafka.consumer(topic, group_id=kafka.group("early"), auto_offset_reset="earliest")
    latest = kafka.consumer(topic, group_id=kafka.group("late"), auto_offset_reset="latest")
    await earliest.start()
    await latest.start()
    assert await earliest.position(tp) == 0
    assert await latest.position(tp) == 5
    assert (await earliest.getone()).value == b"old-0"
    await producer.send_and_wait(topic, b"new")
    record = await latest.getone()
    assert (record.offset, record.value) == (5, b"new")


async def test_seek_and_position_with_manual_assignment(kafka: Any) -> None:
    topic = await kafka.create_topic("seek", 2)
    tp = TopicPartition(topic, 1)
    async with kafka.producer() as producer:
        for i in range(6):
            await producer.send_and_wait(topic, b"%d" % i, partition=1)
    consumer = kafka.consumer(auto_offset_reset="earliest")
    consumer.assign([tp])
    await consumer.start()
    assert consumer.assignment() == {tp}
    assert await consumer.position(tp) == 0
    consumer.seek(tp, 3)
    assert (await consumer.getone()).offset == 3
    assert await consumer.position(tp) == 4
    await consumer.seek_to_beginning(tp)
    assert (await consumer.getone()).offset == 0
    await consumer.seek_to_end(tp)
    assert await consumer.position(tp) == 6
    assert await consumer.getmany(timeout_ms=100) == {}
    assert await consumer.end_offsets([tp]) == {tp: 6}
    assert await consumer.beginning_offsets([tp]) == {tp: 0}
    assert consumer.partitions_for_topic(topic) == {0, 1}


async def test_pattern_subscription(kafka: Any) -> None:
    t1 = await kafka.create_topic("pat-x", 2)
    t2 = await kafka.create_topic("pat-y", 1)
    prefix = t1.rsplit("pat-x", 1)[0]
    consumer = kafka.consumer(group_id=kafka.group("pat"), auto_offset_reset="earliest")
    consumer.subscribe(pattern=f"^{prefix.replace('.', '[.]')}pat-.*")
    await consumer.start()

    async def assigned() -> frozenset[TopicPartition]:
        await consumer.getmany(timeout_ms=50)
        return frozenset(consumer.assignment())

    await wait_until(assigned, equals=_tps(t1, 0, 1) | _tps(t2, 0), timeout=30)
    assert consumer.subscription() == frozenset({t1, t2})


async def test_misuse_raises_what_aiokafka_raises(kafka: Any) -> None:
    topic = await kafka.create_topic("misuse", 1)
    tp = TopicPartition(topic, 0)
    consumer = kafka.consumer(topic)
    with pytest.raises(IllegalStateError):
        consumer.assign([tp])
    with pytest.raises(TypeError):
        consumer.subscribe()
    with pytest.raises(TypeError):
        consumer.subscribe([topic], pattern="x")
    with pytest.raises(TypeError):
        consumer.subscribe([topic], listener=object())
    await consumer.start()
    with pytest.raises(IllegalOperation):
        await consumer.commit()
    with pytest.raises(IllegalOperation):
        await consumer.committed(tp)
    with pytest.raises(IllegalStateError):
        consumer.seek(TopicPartition(topic, 5), 0)
    with pytest.raises(ValueError):
        consumer.seek(tp, -1)
    with pytest.raises(IllegalStateError):
        await consumer.position(TopicPartition(topic, 5))
    with pytest.raises(ValueError):
        await consumer.getmany(max_records=0)

    grouped = kafka.consumer(group_id=kafka.group("misuse"))
    await grouped.start()
    with pytest.raises(IllegalStateError):
        await grouped.commit()


@pytest.mark.parametrize(
    ("assignor", "expected"),
    [
        (RangePartitionAssignor, [(0, 1), (2,), (3,)]),
        (RoundRobinPartitionAssignor, [(0, 3), (1,), (2,)]),
    ],
)
async def test_three_members_over_four_partitions(kafka: Any, assignor, expected) -> None:
    topic = await kafka.create_topic("three", 4)
    group = kafka.group("three")
    members = []
    for _ in range(3):
        member = kafka.consumer(topic, group_id=group, partition_assignment_strategy=(assignor,))
        await member.start()
        members.append(member)

    async def split() -> set[frozenset[TopicPartition]]:
        await asyncio.gather(*(m.getmany(timeout_ms=50) for m in members))
        return {frozenset(m.assignment()) for m in members}

    await wait_until(split, equals={_tps(topic, *ps) for ps in expected}, timeout=30, what="three-way split")


async def test_null_keys_spread_over_valid_partitions(kafka: Any) -> None:
    topic = await kafka.create_topic("nullkey", 4)
    async with kafka.producer() as producer:
        futures = [await producer.send(topic, b"v%d" % i) for i in range(200)]
        metadata = await asyncio.gather(*futures)
    partitions = {md.partition for md in metadata}
    assert partitions <= {0, 1, 2, 3}
    assert len(partitions) > 1
    consumer = kafka.consumer(topic, auto_offset_reset="earliest")
    await consumer.start()
    records = await _drain(consumer, 200)
    assert {r.key for r in records} == {None}
    assert {r.serialized_key_size for r in records} == {-1}
    assert sorted(r.value for r in records) == sorted(b"v%d" % i for i in range(200))


async def test_auto_commit_before_a_rebalance_hands_over_the_position(kafka: Any) -> None:
    topic = await kafka.create_topic("handover", 2)
    async with kafka.producer() as producer:
        for i in range(10):
            await producer.send_and_wait(topic, b"%d" % i, partition=i % 2)
    group = kafka.group("handover")
    first = kafka.consumer(
        topic, group_id=group, auto_offset_reset="earliest", auto_commit_interval_ms=60_000
    )
    await first.start()
    assert len(await _drain(first, 10)) == 10
    second = kafka.consumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    await second.start()

    async def committed() -> dict[int, int | None]:
        return {p: await second.committed(TopicPartition(topic, p)) for p in (0, 1)}

    await wait_until(committed, equals={0: 5, 1: 5}, timeout=30, what="the rebalance's auto-commit")

    async def split() -> int:
        await first.getmany(timeout_ms=50)
        await second.getmany(timeout_ms=50)
        return len(first.assignment()) + len(second.assignment())

    await wait_until(split, equals=2, timeout=30)
    for tp in second.assignment():
        assert await second.position(tp) == 5
    assert await second.getmany(timeout_ms=200) == {}


async def test_getmany_limits_and_partition_filter(kafka: Any) -> None:
    topic = await kafka.create_topic("limits", 2)
    async with kafka.producer() as producer:
        for i in range(8):
            await producer.send_and_wait(topic, b"%d" % i, partition=i % 2)
    consumer = kafka.consumer(auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    await consumer.start()
    only = TopicPartition(topic, 1)
    offsets: list[int] = []

    async def from_one() -> bool:
        batch = await consumer.getmany(only, timeout_ms=200, max_records=3)
        assert set(batch) <= {only}
        assert sum(len(records) for records in batch.values()) <= 3
        offsets.extend(r.offset for r in batch.get(only, []))
        return len(offsets) >= 3

    await wait_until(from_one, equals=True, timeout=20)
    assert offsets == list(range(len(offsets)))
    assert await consumer.position(only) == len(offsets)
    assert await consumer.position(TopicPartition(topic, 0)) == 0


async def test_unknown_topics_are_not_auto_created(kafka: Any) -> None:
    # The kit's brokers run with auto.create.topics.enable=false: a send to an unknown
    # topic fails (the real client after its metadata wait, the mock at once) and the
    # topic does not appear.
    produced = kafka.name("auto-p")
    async with kafka.producer(request_timeout_ms=1500) as producer:
        with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError)):
            await producer.send_and_wait(produced, b"x")
    admin = await kafka.admin()
    assert produced not in set(await admin.list_topics())


class _CommitOnRevoke(ConsumerRebalanceListener):
    """The documented pattern: save progress when partitions are taken away."""

    def __init__(self) -> None:
        self.consumer: Any = None
        self.committed_in_callback: list[frozenset[TopicPartition]] = []

    async def on_partitions_revoked(self, revoked):
        if revoked:
            await self.consumer.commit()
            self.committed_in_callback.append(frozenset(revoked))

    async def on_partitions_assigned(self, assigned):
        pass


async def test_commit_from_on_partitions_revoked(kafka: Any) -> None:
    topic = await kafka.create_topic("revoke", 2)
    async with kafka.producer() as producer:
        for i in range(6):
            await producer.send_and_wait(topic, b"%d" % i, partition=i % 2)
    group = kafka.group("revoke")
    listener = _CommitOnRevoke()
    first = kafka.consumer(group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    listener.consumer = first
    first.subscribe([topic], listener=listener)
    await first.start()
    assert len(await _drain(first, 6)) == 6
    second = kafka.consumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False)
    await second.start()

    async def saved() -> list[frozenset[TopicPartition]]:
        await first.getmany(timeout_ms=50)
        return listener.committed_in_callback

    await wait_until(
        saved, equals=[_tps(topic, 0, 1)], timeout=30, what="the commit in on_partitions_revoked"
    )
    assert {p: await second.committed(TopicPartition(topic, p)) for p in (0, 1)} == {0: 3, 1: 3}
