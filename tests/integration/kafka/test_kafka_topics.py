"""Topic setup and readiness against the real broker."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import (
    KafkaHandle,
    TopicSpec,
    admin_client,
    check_topics_accessible,
    create_topics,
    delete_topics,
    setup_kafka_topics,
    wait_for_topic_availability,
    wait_for_topics_ready,
)
from integration_kit.kafka.admin import describe_topics_everywhere

pytestmark = pytest.mark.integration
NewTopic = Callable[..., str]
SLACK = 2.0  # seconds a deadline may overrun: one in-flight request finishing


async def _partitions(servers: str, topic: str) -> dict[int, int]:
    """partition -> leader, as every broker sees it (asserting they agree)."""
    async with admin_client(servers) as admin:
        views = await describe_topics_everywhere(admin, [topic])
    leaders = [{n: p.leader for n, p in view[topic].partitions.items()} for view in views.values()]
    assert all(found == leaders[0] for found in leaders)
    return leaders[0] if views[next(iter(views))][topic].exists else {}


async def _exists(servers: str, topic: str) -> bool:
    async with admin_client(servers) as admin:
        views = await describe_topics_everywhere(admin, [topic])
    return any(view[topic].exists for view in views.values())


async def test_setup_accepts_names_mappings_and_specs(kafka_servers: str, new_topic: NewTopic) -> None:
    plain, mapped, spec = new_topic("plain"), new_topic("mapped"), new_topic("spec")
    await setup_kafka_topics(kafka_servers, [plain])
    await setup_kafka_topics(kafka_servers, {mapped: 3})
    await setup_kafka_topics(
        kafka_servers, [TopicSpec(spec, partitions=2, config={"retention.ms": "123456"})]
    )
    assert len(await _partitions(kafka_servers, plain)) == 1
    assert len(await _partitions(kafka_servers, mapped)) == 3
    partitions = await _partitions(kafka_servers, spec)
    assert len(partitions) == 2 and all(leader >= 0 for leader in partitions.values())
    async with admin_client(kafka_servers) as admin:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, spec)])
    configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
    assert configs["retention.ms"] == "123456"


async def test_setup_recreates_an_existing_topic_empty_and_resized(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("recreate")
    await setup_kafka_topics(kafka_servers, {topic: 1})
    async with KafkaHandle(kafka_servers) as kafka:
        await kafka.send(topic, b"old")
        assert len(await kafka.messages(topic)) == 1
    await setup_kafka_topics(kafka_servers, {topic: 3})
    assert len(await _partitions(kafka_servers, topic)) == 3
    async with KafkaHandle(kafka_servers) as kafka:
        assert await kafka.messages(topic) == []


async def test_setup_many_topics_in_one_call(kafka_servers: str, new_topic: NewTopic) -> None:
    topics = {new_topic(f"many{i}"): 3 for i in range(10)}
    specs = await setup_kafka_topics(kafka_servers, topics)
    assert [s.name for s in specs] == list(topics)
    for topic in topics:
        assert len(await _partitions(kafka_servers, topic)) == 3


async def test_delete_waits_until_no_broker_knows_the_topic(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("delete")
    await create_topics(kafka_servers, {topic: 2})
    assert await _exists(kafka_servers, topic)
    await delete_topics(kafka_servers, [topic])
    assert not await _exists(kafka_servers, topic)
    await delete_topics(kafka_servers, [topic])  # deleting a missing topic is fine


async def test_metadata_checks_never_auto_create(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("ghost")
    assert not await wait_for_topic_availability(topic, kafka=kafka_servers, timeout=0.3)
    assert not await _exists(kafka_servers, topic)


async def test_create_existing_with_exist_ok(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("exists")
    await create_topics(kafka_servers, {topic: 2})
    await create_topics(kafka_servers, {topic: 2}, exist_ok=True)
    assert len(await _partitions(kafka_servers, topic)) == 2


async def test_create_existing_topic_retries_until_the_deadline(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    topic = new_topic("stuck")
    await create_topics(kafka_servers, [topic])
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY) as caught:
        await create_topics(kafka_servers, [topic], timeout=1.0)
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.0 + SLACK
    assert caught[0].context["topics"] == [topic]
    assert "still exists" in caught[0].context["pending"]


async def test_create_refused_by_the_broker_is_admin_failed(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("badcfg")
    with raises_code(ErrorCode.KAFKA_ADMIN_FAILED) as caught:
        await create_topics(kafka_servers, [TopicSpec(topic, config={"cleanup.policy": "shred"})])
    assert caught[0].context["topic"] == topic
    assert not await _exists(kafka_servers, topic)


async def test_wait_for_topic_availability(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("avail")
    await create_topics(kafka_servers, {topic: 3}, wait=False)
    assert await wait_for_topic_availability(topic, kafka=kafka_servers, timeout=10)
    assert await wait_for_topic_availability(topic, kafka=kafka_servers, timeout=10, partitions=3)
    assert not await wait_for_topic_availability(topic, kafka=kafka_servers, timeout=0.3, partitions=4)


async def test_probe_round_trips_and_leaves_no_message(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("probe")
    await create_topics(kafka_servers, {topic: 3}, probe=True)
    assert await wait_for_topic_availability(topic, kafka=kafka_servers, timeout=10, probe=True)
    async with KafkaHandle(kafka_servers) as kafka:
        assert await kafka.messages(topic) == []
        await kafka.send(topic, b"real")
        assert [m.value for m in await kafka.messages(topic)] == [b"real"]


async def test_topic_never_ready_names_topics_and_partitions_within_the_deadline(
    kafka_servers: str, new_topic: NewTopic
) -> None:
    ready, missing = new_topic("ready"), new_topic("missing")
    await create_topics(kafka_servers, {ready: 2})
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY) as caught:
        await wait_for_topics_ready(kafka_servers, {ready: 3, missing: 1}, timeout=0.5)
    assert time.monotonic() - started < 0.5 + SLACK
    problems = caught[0].context["problems"]
    assert set(problems) == {ready, missing}
    assert any("2 partitions, expected 3" in p for p in problems[ready])
    assert any("not in metadata" in p for p in problems[missing])
    assert missing in str(caught[0]) and ready in str(caught[0])


async def test_health_check_before_a_test(kafka_servers: str, new_topic: NewTopic) -> None:
    topic, gone = new_topic("health"), new_topic("gone")
    await create_topics(kafka_servers, {topic: 2})
    await check_topics_accessible(kafka_servers, {topic: 2})
    with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY):
        await check_topics_accessible(kafka_servers, [topic, gone], timeout=0.3)


async def test_setup_against_a_closed_port_is_unreachable_within_the_deadline(closed_port: int) -> None:
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_UNREACHABLE) as caught:
        await setup_kafka_topics(f"127.0.0.1:{closed_port}", ["x"], timeout=1.0)
    assert time.monotonic() - started < 1.0 + SLACK
    assert str(closed_port) in caught[0].context["bootstrap_servers"]


async def test_unreachable_deadline_holds_when_connects_hang() -> None:
    # 10.255.255.1 is unroutable: connects hang (or fail at once where there is no route)
    started = time.monotonic()
    with raises_code(ErrorCode.KAFKA_UNREACHABLE):
        await wait_for_topics_ready("10.255.255.1:9092", ["x"], timeout=1.0)
    assert time.monotonic() - started < 1.0 + SLACK


async def test_producer_on_a_ready_topic_needs_no_retry(kafka_servers: str, new_topic: NewTopic) -> None:
    topic = new_topic("produce")
    await setup_kafka_topics(kafka_servers, {topic: 3})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_servers, acks="all")
    await producer.start()
    try:
        metas = [await producer.send_and_wait(topic, b"x", partition=p) for p in range(3)]
    finally:
        await producer.stop()
    assert sorted(m.partition for m in metas) == [0, 1, 2]


async def test_availability_defaults_to_the_configured_broker(
    kafka_servers: str, new_topic: NewTopic, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = new_topic("configured")
    await create_topics(kafka_servers, {topic: 1})
    monkeypatch.setenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", kafka_servers)
    assert await wait_for_topic_availability(topic, timeout=5)
    monkeypatch.delenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS")
    monkeypatch.chdir("/")  # no pyproject.toml with a broker either
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        await wait_for_topic_availability(topic, timeout=5)
