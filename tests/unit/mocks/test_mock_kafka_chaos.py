"""Chaos on the mock Kafka: seeded, reproducible faults; idempotent consumers survive them."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    CommitFailedError,
    KafkaConnectionError,
    NodeNotReadyError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from aiokafka.structs import TopicPartition

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks.kafka import KafkaChaos, MockKafkaCluster

pytestmark = pytest.mark.unit

ENTITIES = 8
VERSIONS = 30


def _events() -> list[dict[str, Any]]:
    """Per entity, versions 1..VERSIONS in order; each carries a unique id and an amount."""
    return [
        {"id": f"{e}-{v}", "entity": f"e{e}", "version": v, "amount": e * 100 + v}
        for v in range(1, VERSIONS + 1)
        for e in range(ENTITIES)
    ]


def _expected() -> tuple[dict[str, int], dict[str, list[int]]]:
    totals: dict[str, int] = {}
    ledgers: dict[str, list[int]] = {}
    for ev in _events():
        totals[ev["entity"]] = totals.get(ev["entity"], 0) + ev["amount"]
        ledgers.setdefault(ev["entity"], []).append(ev["version"])
    return totals, ledgers


async def _produce_all(cluster: MockKafkaCluster, topic: str) -> None:
    async with cluster.producer(value_serializer=lambda v: json.dumps(v).encode()) as producer:
        for ev in _events():
            await producer.send(topic, ev, key=ev["entity"].encode())
        await producer.flush()


async def _consume_all(cluster: MockKafkaCluster, topic: str) -> list[dict[str, Any]]:
    consumer = cluster.consumer(topic, auto_offset_reset="earliest", value_deserializer=json.loads)
    await consumer.start()
    values: list[dict[str, Any]] = []
    while batch := await consumer.getmany(timeout_ms=0):
        for records in batch.values():
            values.extend(r.value for r in records)
    await consumer.stop()
    return values


class NaiveConsumer:
    """Applies every event as it comes: adds the amount, appends the version to a ledger."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.ledgers: dict[str, list[int]] = {}

    def apply(self, ev: dict[str, Any]) -> None:
        self.totals[ev["entity"]] = self.totals.get(ev["entity"], 0) + ev["amount"]
        self.ledgers.setdefault(ev["entity"], []).append(ev["version"])

    def handle(self, ev: dict[str, Any]) -> None:
        self.apply(ev)


class IdempotentConsumer(NaiveConsumer):
    """Skips event ids it has seen, and applies each entity's versions in order
    (an early arrival waits in a buffer until its predecessors are applied)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()
        self.pending: dict[str, dict[int, dict[str, Any]]] = {}

    def handle(self, ev: dict[str, Any]) -> None:
        if ev["id"] in self.seen:
            return
        self.seen.add(ev["id"])
        entity = ev["entity"]
        buffer = self.pending.setdefault(entity, {})
        buffer[ev["version"]] = ev
        while (nxt := len(self.ledgers.get(entity, [])) + 1) in buffer:
            self.apply(buffer.pop(nxt))


async def _run_chaos(chaos: KafkaChaos) -> tuple[MockKafkaCluster, list[dict[str, Any]]]:
    cluster = MockKafkaCluster(default_partitions=4, chaos=chaos)
    await _produce_all(cluster, "events")
    return cluster, await _consume_all(cluster, "events")


ROUGH = KafkaChaos(seed=7, duplicate=0.1, reorder=0.1, reorder_window=5)


async def test_same_seed_same_faults_in_same_places() -> None:
    first_cluster, first = await _run_chaos(ROUGH)
    second_cluster, second = await _run_chaos(ROUGH)
    assert first_cluster.chaos_events == second_cluster.chaos_events
    assert {e.kind for e in first_cluster.chaos_events} == {"duplicate", "reorder"}
    assert first == second
    assert _layout(first_cluster) == _layout(second_cluster)


def _layout(cluster: MockKafkaCluster) -> list[tuple[int, int, bytes | None]]:
    return [(r.partition, r.offset, r.value) for r in cluster.records("events")]


async def test_another_seed_puts_faults_elsewhere() -> None:
    first_cluster, _ = await _run_chaos(ROUGH)
    other_cluster, _ = await _run_chaos(KafkaChaos(seed=8, duplicate=0.1, reorder=0.1, reorder_window=5))
    assert first_cluster.chaos_events != other_cluster.chaos_events


@pytest.mark.parametrize(
    "chaos",
    [
        ROUGH,
        KafkaChaos(seed=7, duplicate=0.1),
        KafkaChaos(seed=7, reorder=0.1, reorder_window=5),
    ],
    ids=["duplicate+reorder", "duplicate", "reorder"],
)
async def test_idempotent_consumer_passes_and_naive_fails(chaos: KafkaChaos) -> None:
    cluster, values = await _run_chaos(chaos)
    kinds = [e.kind for e in cluster.chaos_events]
    assert len(values) == len(_events()) + kinds.count("duplicate")
    totals, ledgers = _expected()

    idempotent = IdempotentConsumer()
    naive = NaiveConsumer()
    for ev in values:
        idempotent.handle(ev)
        naive.handle(ev)
    assert (idempotent.totals, idempotent.ledgers) == (totals, ledgers)
    assert naive.ledgers != ledgers
    if chaos.duplicate:
        assert naive.totals != totals


async def test_without_chaos_the_naive_consumer_is_right() -> None:
    _, values = await _run_chaos(KafkaChaos(seed=7))
    naive = NaiveConsumer()
    for ev in values:
        naive.handle(ev)
    assert (naive.totals, naive.ledgers) == _expected()


async def test_reordering_stays_within_the_window_and_partition() -> None:
    cluster, _ = await _run_chaos(KafkaChaos(seed=3, reorder=0.2, reorder_window=3))
    for partition in range(4):
        sent = cluster.records("events", partition)
        versions_by_entity: dict[bytes | None, list[int]] = {}
        for r in sent:
            versions_by_entity.setdefault(r.key, []).append(json.loads(r.value)["version"])
        for got in versions_by_entity.values():
            assert sorted(got) == list(range(1, VERSIONS + 1))
    assert any(e.kind == "reorder" for e in cluster.chaos_events)


async def test_send_and_wait_releases_a_held_record() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=1, reorder=1.0, reorder_window=4))
    async with cluster.producer() as producer:
        md = await producer.send_and_wait("t", b"only")
    assert md.offset == 0
    assert [r.value for r in cluster.records("t")] == [b"only"]


async def test_drops_leave_gaps_the_consumer_never_sees() -> None:
    cluster, values = await _run_chaos(KafkaChaos(seed=11, drop=0.05))
    dropped = [e for e in cluster.chaos_events if e.kind == "drop"]
    assert dropped
    assert len(values) == len(_events()) - len(dropped)
    assert sum(cluster.end_offsets("events").values()) == len(_events())


async def test_send_errors_are_aiokafkas_and_a_retrying_producer_gets_through() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=5, send_errors=0.3))
    failures: list[type[Exception]] = []
    async with cluster.producer() as producer:
        for i in range(50):
            for _attempt in range(20):
                try:
                    await producer.send_and_wait("t", b"%d" % i)
                    break
                except (RequestTimedOutError, NotLeaderForPartitionError) as exc:
                    failures.append(type(exc))
    assert failures
    assert {e.kind for e in cluster.chaos_events} == {"send_error"}
    assert [r.value for r in cluster.records("t")] == [b"%d" % i for i in range(50)]


async def test_connect_errors_on_start() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=2, connect_errors=1.0))
    producer = cluster.producer()
    with pytest.raises((KafkaConnectionError, NodeNotReadyError)):
        await producer.start()
    consumer = cluster.consumer("t")
    with pytest.raises((KafkaConnectionError, NodeNotReadyError)):
        await consumer.start()


async def test_commit_errors_are_commit_failed() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=4, commit_errors=0.5))
    async with cluster.producer() as producer:
        await producer.send_and_wait("t", b"x")
    consumer = cluster.consumer("t", group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    await consumer.getone()
    outcomes = []
    for _ in range(20):
        try:
            await consumer.commit()
            outcomes.append("ok")
        except CommitFailedError:
            outcomes.append("failed")
    assert "ok" in outcomes and "failed" in outcomes
    assert outcomes.count("failed") == sum(e.kind == "commit_error" for e in cluster.chaos_events)
    await consumer.stop()


class _SlowRevoke(ConsumerRebalanceListener):
    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def on_partitions_revoked(self, revoked):
        if revoked:
            self.entered.set()
            await self.release.wait()

    def on_partitions_assigned(self, assigned):
        pass


async def test_commit_during_a_rebalance_fails_with_commit_failed() -> None:
    cluster = MockKafkaCluster(default_partitions=2)
    async with cluster.producer() as producer:
        await producer.send_and_wait("t", b"x", partition=0)
    listener = _SlowRevoke()
    first = cluster.consumer(group_id="g", auto_offset_reset="earliest", enable_auto_commit=False)
    first.subscribe(["t"], listener=listener)
    await first.start()
    record = await first.getone()
    second = cluster.consumer("t", group_id="g", enable_auto_commit=False)
    joining = asyncio.create_task(second.start())
    await listener.entered.wait()
    with pytest.raises(CommitFailedError):
        await first.commit({TopicPartition("t", 0): record.offset + 1})
    listener.release.set()
    await joining
    assert first.assignment() | second.assignment() == {TopicPartition("t", 0), TopicPartition("t", 1)}
    await first.stop()
    await second.stop()


async def test_delay_is_recorded_and_applied() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=9, delay=0.5, delay_s=0.0))
    async with cluster.producer() as producer:
        for i in range(20):
            await producer.send_and_wait("t", b"%d" % i)
    delays = [e for e in cluster.chaos_events if e.kind == "delay"]
    assert 0 < len(delays) < 20
    assert len(cluster.records("t")) == 20


async def test_topics_limit_the_record_faults() -> None:
    cluster = MockKafkaCluster(chaos=KafkaChaos(seed=1, drop=1.0, topics={"noisy"}))
    async with cluster.producer() as producer:
        await producer.send_and_wait("quiet", b"kept")
        await producer.send_and_wait("noisy", b"lost")
    assert [r.value for r in cluster.records("quiet")] == [b"kept"]
    assert cluster.records("noisy") == []


@pytest.mark.parametrize(
    "bad",
    [
        {"drop": 1.5},
        {"duplicate": -0.1},
        {"reorder": float("nan")},
        {"reorder_window": 0},
        {"delay_s": -1},
        {"seed": "x"},
        {"send_error_types": ()},
        {"topics": "orders"},
    ],
)
def test_invalid_chaos_is_a_coded_error(bad: dict[str, Any]) -> None:
    with raises_code(ErrorCode.MOCK_KAFKA_INVALID_CHAOS):
        KafkaChaos(**bad)


async def test_faults_do_not_depend_on_how_unrelated_tasks_interleave() -> None:
    chaos = KafkaChaos(seed=21, drop=0.1, duplicate=0.1, reorder=0.1)

    async def produce(cluster: MockKafkaCluster, topic: str, pauses: list[int]) -> None:
        async with cluster.producer() as producer:
            for i in range(100):
                await producer.send(topic, b"%d" % i, key=b"k%d" % (i % 7))
                for _ in range(pauses[i]):
                    await asyncio.sleep(0)

    sequential = MockKafkaCluster(default_partitions=3, chaos=chaos)
    await produce(sequential, "a", [0] * 100)
    await produce(sequential, "b", [0] * 100)

    rng = random.Random(5)
    interleaved = MockKafkaCluster(default_partitions=3, chaos=chaos)
    await asyncio.gather(
        produce(interleaved, "a", [rng.randint(0, 3) for _ in range(100)]),
        produce(interleaved, "b", [rng.randint(0, 3) for _ in range(100)]),
    )
    assert sorted(sequential.chaos_events) == sorted(interleaved.chaos_events)
    for topic in ("a", "b"):
        layout = [(r.partition, r.offset, r.value) for r in sequential.records(topic)]
        assert layout == [(r.partition, r.offset, r.value) for r in interleaved.records(topic)]
