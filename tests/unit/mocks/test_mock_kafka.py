"""Unit tests of the mock Kafka cluster: clients, partitioning, groups, admin, patching."""

from __future__ import annotations

import asyncio
import random
import sys
import types

import aiokafka
import aiokafka.admin
import pytest
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import NewPartitions, NewTopic
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import (
    ConsumerStoppedError,
    InconsistentGroupProtocolError,
    InvalidPartitionsError,
    NoOffsetForPartitionError,
    UnknownTopicOrPartitionError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata, RecordMetadata, TopicPartition

import integration_kit.mocks as mocks_pkg
import integration_kit.mocks.kafka as kafka_pkg
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks.kafka import (
    MockKafkaAdmin,
    MockKafkaCluster,
    MockKafkaConsumer,
    MockKafkaProducer,
    partition_for_key,
    patch_aiokafka,
)

pytestmark = pytest.mark.unit


def test_exports_are_sorted_and_resolve() -> None:
    for module in (kafka_pkg, mocks_pkg):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            assert getattr(module, name) is not None


# --- producing and consuming ---


async def test_roundtrip_with_serializers_headers_and_metadata() -> None:
    cluster = MockKafkaCluster(default_partitions=3, clock=lambda: 1_000.5)
    async with (
        cluster.producer(key_serializer=str.encode, value_serializer=str.encode) as producer,
        cluster.consumer(
            "t", auto_offset_reset="earliest", key_deserializer=bytes.decode, value_deserializer=bytes.decode
        ) as consumer,
    ):
        md = await producer.send_and_wait("t", "v", key="k", headers=[("h", b"1")])
        assert isinstance(md, RecordMetadata)
        assert (md.topic, md.offset, md.timestamp, md.timestamp_type) == ("t", 0, 1_000_500, 0)
        assert md.partition == partition_for_key(b"k", 3)
        record = await consumer.getone()
        assert isinstance(record, ConsumerRecord)
        assert (record.key, record.value, record.headers) == ("k", "v", (("h", b"1"),))
        assert (record.serialized_key_size, record.serialized_value_size) == (1, 1)
        assert consumer.highwater(TopicPartition("t", md.partition)) == 1
        assert consumer.last_poll_timestamp(TopicPartition("t", md.partition)) == 1_000_500


async def test_send_returns_a_future() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        future = await producer.send("t", b"x")
        assert isinstance(future, asyncio.Future)
        assert (await future).offset == 0


async def test_partition_choice_is_aiokafkas_default_partitioner() -> None:
    rng = random.Random(1)
    reference = DefaultPartitioner()
    for _ in range(2000):
        key = rng.randbytes(rng.randint(0, 30))
        n = rng.randint(1, 50)
        assert partition_for_key(key, n) == reference(key, list(range(n)), list(range(n)))


async def test_null_keys_follow_the_seed() -> None:
    async def partitions(seed: int) -> list[int]:
        cluster = MockKafkaCluster(default_partitions=8, seed=seed)
        async with cluster.producer() as producer:
            return [(await producer.send_and_wait("t", b"x")).partition for _ in range(50)]

    assert await partitions(1) == await partitions(1)
    assert await partitions(1) != await partitions(2)
    assert len(set(await partitions(1))) > 1


async def test_custom_partitioner_and_explicit_partition() -> None:
    cluster = MockKafkaCluster(default_partitions=4)
    async with cluster.producer(partitioner=lambda key, all_, avail: all_[-1]) as producer:
        assert (await producer.send_and_wait("t", b"x", key=b"k")).partition == 3
        assert (await producer.send_and_wait("t", b"x", partition=1)).partition == 1
        assert await producer.partitions_for("t") == {0, 1, 2, 3}


async def test_bad_keys_and_values_raise_type_error_like_aiokafka() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        with pytest.raises(TypeError):
            await producer.send("t", "not bytes")
        with pytest.raises(AssertionError):
            await producer.send("t")


async def test_auto_create_follows_the_cluster_setting() -> None:
    cluster = MockKafkaCluster(default_partitions=5)
    async with cluster.producer() as producer:
        await producer.send_and_wait("auto", b"x")
    assert cluster.partitions_for("auto") == set(range(5))

    strict = MockKafkaCluster(auto_create_topics=False)  # clients wait request_timeout_ms, then fail
    async with strict.producer(request_timeout_ms=200) as producer:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.send("missing", b"x")
    with pytest.raises(UnknownTopicOrPartitionError):
        await strict.consumer("missing", request_timeout_ms=200).start()


async def test_async_iteration_ends_when_the_consumer_stops() -> None:
    cluster = MockKafkaCluster()
    consumer = cluster.consumer("t", auto_offset_reset="earliest")
    await consumer.start()
    async with cluster.producer() as producer:
        for i in range(3):
            await producer.send_and_wait("t", b"%d" % i)
    seen = []

    async def read() -> None:
        async for record in consumer:
            seen.append(record.value)
            if len(seen) == 3:
                asyncio.get_running_loop().call_soon(asyncio.ensure_future, consumer.stop())

    await asyncio.wait_for(read(), 5)
    assert seen == [b"0", b"1", b"2"]
    with pytest.raises(ConsumerStoppedError):
        await consumer.getone()


async def test_getone_waits_for_a_record() -> None:
    cluster = MockKafkaCluster()
    consumer = cluster.consumer("t")
    await consumer.start()
    waiting = asyncio.create_task(consumer.getone())
    await asyncio.sleep(0)
    assert not waiting.done()
    async with cluster.producer() as producer:
        await producer.send_and_wait("t", b"late")
    assert (await asyncio.wait_for(waiting, 5)).value == b"late"
    await consumer.stop()


async def test_getmany_limits_and_partitions() -> None:
    cluster = MockKafkaCluster(default_partitions=2)
    async with cluster.producer() as producer:
        for i in range(10):
            await producer.send_and_wait("t", b"%d" % i, partition=i % 2)
    consumer = cluster.consumer("t", auto_offset_reset="earliest", max_poll_records=3)
    await consumer.start()
    batch = await consumer.getmany()
    assert sum(len(v) for v in batch.values()) == 3
    only_one = await consumer.getmany(TopicPartition("t", 1), max_records=10)
    assert set(only_one) == {TopicPartition("t", 1)}
    consumer.pause(TopicPartition("t", 0))
    assert consumer.paused() == {TopicPartition("t", 0)}
    assert await consumer.getmany(timeout_ms=10) == {}
    consumer.resume(TopicPartition("t", 0))
    assert set(await consumer.getmany()) == {TopicPartition("t", 0)}
    await consumer.stop()


async def test_auto_offset_reset_none_and_out_of_range_seek() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        await producer.send_and_wait("t", b"x")
    strict = cluster.consumer("t", group_id="g", auto_offset_reset="none")
    await strict.start()
    with pytest.raises(NoOffsetForPartitionError):
        await strict.getone()
    await strict.stop()

    consumer = cluster.consumer(auto_offset_reset="earliest")
    tp = TopicPartition("t", 0)
    consumer.assign([tp])
    await consumer.start()
    consumer.seek(tp, 100)
    assert (await consumer.getone()).offset == 0  # out of range: reset to earliest
    await consumer.stop()


async def test_offsets_for_times() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        for ts in (100, 200, 300):
            await producer.send_and_wait("t", b"x", timestamp_ms=ts)
    consumer = cluster.consumer()
    await consumer.start()
    tp = TopicPartition("t", 0)
    found = await consumer.offsets_for_times({tp: 150})
    assert (found[tp].offset, found[tp].timestamp) == (1, 200)
    assert (await consumer.offsets_for_times({tp: 999}))[tp] is None
    await consumer.stop()


# --- groups ---


class Recorder(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, set[TopicPartition]]] = []

    def on_partitions_revoked(self, revoked):
        self.events.append(("revoked", set(revoked)))

    def on_partitions_assigned(self, assigned):
        self.events.append(("assigned", set(assigned)))


async def test_three_members_share_and_rebalance_as_they_come_and_go() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic("t", 6)
    members = [cluster.consumer("t", group_id="g", partition_assignment_strategy=(RangePartitionAssignor,))]
    await members[0].start()
    for _ in range(2):
        members.append(
            cluster.consumer("t", group_id="g", partition_assignment_strategy=(RangePartitionAssignor,))
        )
        await members[-1].start()
    shares = [m.assignment() for m in members]
    assert sorted(len(s) for s in shares) == [2, 2, 2]
    assert set().union(*shares) == {TopicPartition("t", p) for p in range(6)}
    # the range assignor gives members, sorted by id, consecutive partitions
    by_id = sorted(members, key=lambda m: m.member_id)
    assert [sorted(tp.partition for tp in m.assignment()) for m in by_id] == [[0, 1], [2, 3], [4, 5]]
    await members[1].stop()
    assert sorted(len(m.assignment()) for m in (members[0], members[2])) == [3, 3]
    group = cluster.group("g")
    assert group.state == "Stable" and group.protocol == "range"
    for m in (members[0], members[2]):
        await m.stop()
    assert group.state == "Empty"


async def test_pattern_subscription_picks_up_new_topics() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic("orders.eu", 1)
    listener = Recorder()
    consumer = cluster.consumer(group_id="g", auto_offset_reset="earliest")
    consumer.subscribe(pattern=r"orders\..*", listener=listener)
    await consumer.start()
    assert consumer.assignment() == {TopicPartition("orders.eu", 0)}
    cluster.create_topic("orders.us", 2)
    cluster.create_topic("payments", 1)
    async with cluster.producer() as producer:
        await producer.send_and_wait("orders.us", b"x", partition=1)
    record = await asyncio.wait_for(consumer.getone(), 5)
    assert record.topic == "orders.us"
    assert consumer.subscription() == frozenset({"orders.eu", "orders.us"})
    assert listener.events[-1] == (
        "assigned",
        {TopicPartition("orders.eu", 0), *[TopicPartition("orders.us", p) for p in (0, 1)]},
    )
    await consumer.stop()


async def test_subscribe_after_start_and_unsubscribe() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic("a", 1)
    cluster.create_topic("b", 1)
    consumer = cluster.consumer("a", group_id="g")
    await consumer.start()
    consumer.subscribe(["b"])
    await consumer.getmany(timeout_ms=0)
    assert consumer.assignment() == {TopicPartition("b", 0)}
    consumer.unsubscribe()
    assert consumer.assignment() == set()
    assert consumer.subscription() == frozenset()
    consumer.assign([TopicPartition("a", 0)])
    assert consumer.assignment() == {TopicPartition("a", 0)}
    await consumer.stop()


async def test_growing_a_topic_rebalances_the_group() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic("t", 1)
    consumer = cluster.consumer("t", group_id="g")
    await consumer.start()
    async with cluster.admin() as admin:
        await admin.create_partitions({"t": NewPartitions(3)})
        with pytest.raises(InvalidPartitionsError):
            await admin.create_partitions({"t": NewPartitions(2)})
    await consumer.getmany()
    assert consumer.assignment() == {TopicPartition("t", p) for p in range(3)}
    await consumer.stop()


async def test_members_without_a_common_assignor_are_refused() -> None:
    cluster = MockKafkaCluster()
    first = cluster.consumer("t", group_id="g", partition_assignment_strategy=(RangePartitionAssignor,))
    await first.start()
    second = cluster.consumer("t", group_id="g", partition_assignment_strategy=(RoundRobinPartitionAssignor,))
    with pytest.raises(InconsistentGroupProtocolError):
        await second.start()
    await first.stop()


async def test_protocol_is_chosen_by_vote() -> None:
    cluster = MockKafkaCluster()
    both = (RoundRobinPartitionAssignor, RangePartitionAssignor)
    first = cluster.consumer("t", group_id="g", partition_assignment_strategy=both)
    second = cluster.consumer("t", group_id="g", partition_assignment_strategy=(RangePartitionAssignor,))
    await first.start()
    assert cluster.group("g").protocol == "roundrobin"
    await second.start()
    assert cluster.group("g").protocol == "range"
    await first.stop()
    await second.stop()


async def test_auto_commit_on_interval_and_before_rebalance() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        for i in range(4):
            await producer.send_and_wait("t", b"%d" % i)
    consumer = cluster.consumer("t", group_id="g", auto_offset_reset="earliest", auto_commit_interval_ms=0)
    await consumer.start()
    await consumer.getone()
    await consumer.getone()  # the next poll commits what the previous one consumed
    assert cluster.committed("g")[TopicPartition("t", 0)].offset == 1
    other = cluster.consumer("t", group_id="g", enable_auto_commit=False)
    await other.start()  # the rebalance commits the consumed position first
    assert cluster.committed("g")[TopicPartition("t", 0)] == OffsetAndMetadata(2, "")
    await other.stop()
    await consumer.stop()


async def test_commit_checks() -> None:
    cluster = MockKafkaCluster()
    consumer = cluster.consumer("t", group_id="g")
    await consumer.start()
    with pytest.raises(ValueError):
        await consumer.commit({TopicPartition("t", 0): "nope"})
    with pytest.raises(aiokafka.errors.IllegalStateError):
        await consumer.commit({TopicPartition("t", 9): 1})
    await consumer.commit({TopicPartition("t", 0): (5, "meta")})
    assert cluster.committed("g") == {TopicPartition("t", 0): OffsetAndMetadata(5, "meta")}
    assert await consumer.seek_to_committed() == {TopicPartition("t", 0): 5}
    await consumer.stop()


# --- admin ---


async def test_admin_topics_groups_and_offsets() -> None:
    cluster = MockKafkaCluster()
    admin = cluster.admin()
    with raises_code(ErrorCode.MOCK_KAFKA_NOT_STARTED):
        await admin.list_topics()
    await admin.start()
    response = await admin.create_topics([NewTopic("a", 2, 1), NewTopic("b", 1, 1)])
    assert response.topic_errors == [("a", 0, None), ("b", 0, None)]
    again = await admin.create_topics([NewTopic("a", 2, 1)])
    assert again.topic_errors[0][1] == 36  # TOPIC_ALREADY_EXISTS
    assert await admin.list_topics() == ["a", "b"]
    (described,) = await admin.describe_topics(["a"])
    assert [p["partition"] for p in described["partitions"]] == [0, 1]
    consumer = cluster.consumer("a", group_id="g")
    await consumer.start()
    await consumer.commit({TopicPartition("a", 1): 3})
    assert await admin.list_consumer_groups() == [("g", "consumer")]
    assert await admin.list_consumer_group_offsets("g") == {TopicPartition("a", 1): OffsetAndMetadata(3, "")}
    assert (await admin.list_consumer_group_offsets("g", partitions=[TopicPartition("a", 0)])) == {
        TopicPartition("a", 0): OffsetAndMetadata(-1, "")
    }
    assert await admin.delete_consumer_groups(["g"]) == [("g", 68)]
    await consumer.stop()
    assert await admin.delete_consumer_groups(["g"]) == [("g", 0)]
    assert (await admin.delete_topics(["a", "zz"])).topic_error_codes == [("a", 0), ("zz", 3)]
    assert (await admin.describe_cluster())["controller_id"] == 1
    await admin.close()


# --- coded errors and misuse ---


async def test_not_started_is_a_coded_error() -> None:
    cluster = MockKafkaCluster()
    producer = cluster.producer()
    with raises_code(ErrorCode.MOCK_KAFKA_NOT_STARTED):
        await producer.send("t", b"x")
    consumer = cluster.consumer("t")
    with raises_code(ErrorCode.MOCK_KAFKA_NOT_STARTED):
        await consumer.getone()
    with raises_code(ErrorCode.MOCK_KAFKA_NOT_STARTED):
        await consumer.getmany()
    await consumer.start()
    with pytest.raises(AssertionError):
        await consumer.start()
    await consumer.stop()


def test_no_cluster_is_a_coded_error() -> None:
    for cls in (MockKafkaProducer, MockKafkaConsumer, MockKafkaAdmin):
        with raises_code(ErrorCode.MOCK_KAFKA_NO_CLUSTER):
            cls()


def test_unsupported_features_are_coded_errors() -> None:
    cluster = MockKafkaCluster()
    with raises_code(ErrorCode.MOCK_KAFKA_UNSUPPORTED):
        cluster.producer(transactional_id="tx")
    with raises_code(ErrorCode.MOCK_KAFKA_UNSUPPORTED):
        cluster.producer().create_batch()


def test_unknown_options_are_type_errors_as_in_aiokafka() -> None:
    cluster = MockKafkaCluster()
    with pytest.raises(TypeError):
        cluster.producer(bootstrap_server="typo")
    with pytest.raises(TypeError):
        cluster.consumer("t", group="typo")
    with pytest.raises(ValueError):
        cluster.producer(acks=2)


# --- patching ---


def _service_module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(
        "from aiokafka import AIOKafkaProducer, AIOKafkaConsumer\n"
        "from aiokafka.admin import AIOKafkaAdminClient\n"
        "async def publish(value):\n"
        "    producer = AIOKafkaProducer(bootstrap_servers='prod:9092')\n"
        "    await producer.start()\n"
        "    try:\n"
        "        return await producer.send_and_wait('orders', value)\n"
        "    finally:\n"
        "        await producer.stop()\n",
        module.__dict__,
    )
    return module


async def test_patch_aiokafka_swaps_imported_names_and_restores_them() -> None:
    module = _service_module("ik_test_service")
    real_producer = aiokafka.AIOKafkaProducer
    cluster = MockKafkaCluster()
    with patch_aiokafka(cluster, module) as patched:
        assert patched is cluster
        assert issubclass(module.AIOKafkaProducer, MockKafkaProducer)
        assert issubclass(aiokafka.AIOKafkaConsumer, MockKafkaConsumer)
        assert issubclass(aiokafka.admin.AIOKafkaAdminClient, MockKafkaAdmin)
        md = await module.publish(b"hello")
        assert md.topic == "orders"
    assert module.AIOKafkaProducer is real_producer
    assert aiokafka.AIOKafkaProducer is real_producer
    assert [r.value for r in cluster.records("orders")] == [b"hello"]


def test_patch_aiokafka_by_module_name() -> None:
    module = _service_module("ik_test_service_by_name")
    sys.modules[module.__name__] = module
    try:
        with patch_aiokafka(MockKafkaCluster(), module.__name__):
            assert issubclass(module.AIOKafkaConsumer, MockKafkaConsumer)
    finally:
        del sys.modules[module.__name__]


def test_patch_aiokafka_refuses_a_module_without_clients() -> None:
    with (
        raises_code(ErrorCode.MOCK_KAFKA_NOTHING_PATCHED),
        patch_aiokafka(MockKafkaCluster(), types.ModuleType("x")),
    ):
        pass
    assert not issubclass(aiokafka.AIOKafkaProducer, MockKafkaProducer)


async def test_manual_assignment_with_a_group_commits_on_stop() -> None:
    cluster = MockKafkaCluster()
    async with cluster.producer() as producer:
        for i in range(3):
            await producer.send_and_wait("t", b"%d" % i)
    tp = TopicPartition("t", 0)
    consumer = cluster.consumer(group_id="g", auto_offset_reset="earliest")
    consumer.assign([tp])
    await consumer.start()
    await consumer.getone()
    await consumer.getone()
    await consumer.stop()
    assert cluster.committed("g") == {tp: OffsetAndMetadata(2, "")}
    again = cluster.consumer(group_id="g")
    again.assign([tp])
    await again.start()
    assert (await again.getone()).offset == 2
    await again.stop()


async def test_deleting_a_topic_drops_it_from_assignments_and_offsets() -> None:
    cluster = MockKafkaCluster()
    cluster.create_topic("a", 1)
    cluster.create_topic("b", 1)
    consumer = cluster.consumer("a", "b", group_id="g")
    await consumer.start()
    await consumer.commit({TopicPartition("a", 0): 1})
    cluster.delete_topic("a")
    await consumer.getmany()
    assert consumer.assignment() == {TopicPartition("b", 0)}
    assert {tp.topic for tp in cluster.committed("g")} == {"b"}
    with pytest.raises(UnknownTopicOrPartitionError):
        cluster.delete_topic("a")
    await consumer.stop()


async def test_set_chaos_restarts_the_event_log() -> None:
    from integration_kit.mocks.kafka import KafkaChaos

    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=1, drop=1.0))
    async with cluster.producer() as producer:
        await producer.send_and_wait("t", b"lost")
        assert len(cluster.chaos_events) == 1
        cluster.set_chaos(None)
        assert cluster.chaos is None and cluster.chaos_events == []
        await producer.send_and_wait("t", b"kept")
    assert [r.value for r in cluster.records("t")] == [b"kept"]


async def test_sticky_assignor_runs_like_any_other() -> None:
    from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor

    cluster = MockKafkaCluster()
    cluster.create_topic("t", 5)
    options = {"group_id": "g", "partition_assignment_strategy": (StickyPartitionAssignor,)}
    first = cluster.consumer("t", **options)
    second = cluster.consumer("t", **options)
    await first.start()
    await second.start()
    assert first.assignment().isdisjoint(second.assignment())
    assert first.assignment() | second.assignment() == {TopicPartition("t", p) for p in range(5)}
    assert cluster.group("g").protocol == "sticky"
    await second.stop()
    await first.stop()


class _SteppedClock:
    """Shaped like the mocks' VirtualClock: ``time_ms()`` moves only when told."""

    def __init__(self) -> None:
        self.now_ms = 5_000

    def time_ms(self) -> int:
        return self.now_ms


async def test_timestamps_follow_a_clock_object() -> None:
    clock = _SteppedClock()
    cluster = MockKafkaCluster(clock=clock)
    async with cluster.producer() as producer:
        first = await producer.send_and_wait("t", b"a")
        clock.now_ms += 1_500
        second = await producer.send_and_wait("t", b"b")
    assert (first.timestamp, second.timestamp) == (5_000, 6_500)
    assert [r.timestamp for r in cluster.records("t")] == [5_000, 6_500]
    with pytest.raises(TypeError):
        MockKafkaCluster(clock=42)


def test_topics_created_from_sync_code_reach_running_consumers() -> None:
    cluster = MockKafkaCluster()
    consumer = cluster.consumer(group_id="g", auto_offset_reset="earliest")
    consumer.subscribe(pattern="^late-.*")

    async def start() -> None:
        await consumer.start()

    async def read() -> bytes:
        async with cluster.producer() as producer:
            await producer.send_and_wait("late-topic", b"x")
        return (await asyncio.wait_for(consumer.getone(), 5)).value

    runner = asyncio.Runner()
    with runner:
        runner.run(start())
        assert consumer.assignment() == set()
        cluster.create_topic("late-topic", 1)  # no running loop here
        assert runner.run(read()) == b"x"
        runner.run(consumer.stop())
