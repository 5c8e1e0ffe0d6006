"""Topic readiness: when is a topic really usable by a producer and a fresh consumer?

A topic is *ready* when, in the metadata of **every** broker (each broker answers
clients from its own cache, which lags the controller):

1. the topic is known (no ``UNKNOWN_TOPIC_OR_PARTITION``, no other error),
2. it has the expected number of partitions (when one is given),
3. every partition has a leader, no offline replica, and its ISR equals its replicas;
4. each partition's leader answers ``ListOffsets`` for it: the leader has really loaded
   the partition (metadata can name a leader a few milliseconds before it serves).

With ``probe=True`` a record is also produced to every partition (``acks=all``) and
read back, then hidden again with ``DeleteRecords`` so consumers never see it.

Metadata is requested with ``allow_auto_topic_creation=False``: asking about a topic
never creates it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.errors import KafkaError as _DriverError

from integration_kit.errors import ErrorCode, IntegrationKitError, KafkaArgumentError, KafkaError
from integration_kit.kafka.admin import (
    KafkaTarget,
    TopicInfo,
    admin_client,
    bootstrap_servers_of,
    describe_topics_everywhere,
)
from integration_kit.kafka.protocol import list_offsets_request
from integration_kit.waiting import Backoff

READY_BACKOFF = Backoff(initial=0.005, factor=1.5, maximum=0.05)
PROBE_HEADER = "ik-probe"

Expected = Mapping[str, int | None]


def _expected(topics: Sequence[str] | Mapping[str, int | None] | str) -> dict[str, int | None]:
    if isinstance(topics, str):
        return {topics: None}
    if isinstance(topics, Mapping):
        return dict(topics)
    return dict.fromkeys(topics)


async def topic_problems(admin: AIOKafkaAdminClient, expected: Expected) -> dict[str, list[str]]:
    """What keeps each topic from being ready; topics that are ready are absent."""
    views = await describe_topics_everywhere(admin, list(expected))
    problems: dict[str, list[str]] = {}
    for node, view in views.items():
        for name, want in expected.items():
            found = _problems_of(view.get(name), want)
            if found:
                problems.setdefault(name, []).extend(f"{p} (broker {node})" for p in found)
    if not problems:
        problems = await _leader_problems(admin, next(iter(views.values())), list(expected))
    return problems


async def _leader_problems(
    admin: AIOKafkaAdminClient, view: Mapping[str, TopicInfo], names: Sequence[str]
) -> dict[str, list[str]]:
    """Ask each partition's leader for the partition's end offset (``ListOffsets``)."""
    by_leader: dict[int, dict[str, list[tuple[int, int]]]] = {}
    for name in names:
        for number, partition in view[name].partitions.items():
            by_leader.setdefault(partition.leader, {}).setdefault(name, []).append((number, -1))
    requests = [
        admin._client.send(leader, list_offsets_request(topics)) for leader, topics in by_leader.items()
    ]
    problems: dict[str, list[str]] = {}
    for leader, response in zip(by_leader, await asyncio.gather(*requests), strict=True):
        for topic, partitions in response.topics:
            for number, error_code, *_ in partitions:
                if error_code:
                    problems.setdefault(topic, []).append(
                        f"partition {number}: leader {leader} not serving it yet (error {error_code})"
                    )
    return problems


def _problems_of(info: TopicInfo | None, want: int | None) -> list[str]:
    if info is None or not info.exists:
        return ["not in metadata"]
    if info.error_code:
        return [f"error {info.error_code}"]
    found: list[str] = []
    if not info.partitions:
        found.append("no partitions")
    elif want is not None and len(info.partitions) != want:
        found.append(f"{len(info.partitions)} partitions, expected {want}")
    for number, partition in sorted(info.partitions.items()):
        why = partition.problem
        if why is not None:
            found.append(f"partition {number}: {why}")
    return found


NEVER_CHECKED = "never checked"


def never_checked(problems: Mapping[str, Sequence[str]]) -> bool:
    """True while no check has answered yet (a timeout then says more than nothing)."""
    return all(list(why) == [NEVER_CHECKED] for why in problems.values())


def format_pending(problems: Mapping[str, Sequence[str]]) -> str:
    return "; ".join(f"{name}: {', '.join(why)}" for name, why in sorted(problems.items()))


def not_ready(timeout: float, problems: Mapping[str, Sequence[str]]) -> KafkaError:
    return KafkaError(
        ErrorCode.KAFKA_TOPIC_NOT_READY,
        timeout=timeout,
        pending=format_pending(problems),
        topics=sorted(problems),
        problems={k: list(v) for k, v in problems.items()},
    )


async def wait_for_topics_ready(
    kafka: KafkaTarget,
    topics: Sequence[str] | Mapping[str, int | None] | str,
    *,
    timeout: float = 10.0,
    probe: bool = False,
    backoff: Backoff = READY_BACKOFF,
) -> None:
    """Return once every topic is ready (see module doc); else ``IK-KAFKA-TOPIC-NOT-READY``.

    ``topics`` maps names to expected partition counts (``None``: any). The error's
    ``context["problems"]`` names each topic and partition still not ready.
    """
    expected = _expected(topics)
    if not expected:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with admin_client(kafka, timeout=timeout) as admin:
        problems = await _poll_ready(admin, expected, deadline, backoff)
        if problems:
            raise not_ready(timeout, problems)
        if probe:
            remaining = deadline - loop.time()
            try:
                await asyncio.wait_for(probe_topics(admin, expected), max(remaining, 0.001))
            except (TimeoutError, _DriverError, OSError) as exc:
                raise not_ready(timeout, {n: [f"probe failed: {exc!r}"] for n in expected}) from exc


async def _poll_ready(
    admin: AIOKafkaAdminClient, expected: Expected, deadline: float, backoff: Backoff
) -> dict[str, list[str]]:
    """Poll until no problems remain or the deadline passes; return the last problems."""
    loop = asyncio.get_running_loop()
    problems: dict[str, list[str]] = {name: [NEVER_CHECKED] for name in expected}
    for delay in backoff.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            problems = await asyncio.wait_for(topic_problems(admin, expected), remaining)
        except (TimeoutError, _DriverError, OSError) as exc:
            if not isinstance(exc, TimeoutError) or never_checked(problems):
                problems = {name: [f"metadata request failed: {exc!r}"] for name in expected}
        if not problems:
            return {}
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    return problems


async def wait_for_topic_availability(
    topic: str,
    *,
    kafka: KafkaTarget | None = None,
    timeout: float = 10.0,
    partitions: int | None = None,
    probe: bool = False,
) -> bool:
    """True once ``topic`` is ready (see module doc), False if it is not within ``timeout``.

    ``kafka`` defaults to the configured ``kafka_bootstrap_servers``
    (``INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS``). An unreachable broker still raises
    ``IK-KAFKA-UNREACHABLE``.
    """
    if kafka is None:
        from integration_kit.config import load_settings

        kafka = load_settings().kafka_bootstrap_servers
        if kafka is None:
            raise KafkaArgumentError(
                ErrorCode.KAFKA_INVALID_ARGUMENT,
                argument="kafka",
                value=None,
                expected="bootstrap servers, an endpoint or an admin client "
                "(or INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS set)",
            )
    try:
        await wait_for_topics_ready(kafka, {topic: partitions}, timeout=timeout, probe=probe)
    except IntegrationKitError as exc:
        if exc.code is ErrorCode.KAFKA_TOPIC_NOT_READY:
            return False
        raise
    return True


async def check_topics_accessible(
    kafka: KafkaTarget, topics: Sequence[str] | Mapping[str, int | None], *, timeout: float = 5.0
) -> None:
    """Pre-test health check: every topic is described by the admin client and ready.

    Cheap when all is well (one metadata request per broker); raises
    ``IK-KAFKA-TOPIC-NOT-READY`` naming what is wrong otherwise.
    """
    await wait_for_topics_ready(kafka, topics, timeout=timeout)


async def probe_topics(admin: AIOKafkaAdminClient, expected: Expected) -> None:
    """Produce one record to each partition, read it back, then hide it with DeleteRecords."""
    servers = bootstrap_servers_of(admin)
    views = await describe_topics_everywhere(admin, list(expected))
    first = next(iter(views.values()))
    partitions = [TopicPartition(name, p) for name in expected for p in sorted(first[name].partitions)]
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50
    )
    await producer.start()
    try:
        await consumer.start()
        sent = await asyncio.gather(
            *(
                producer.send_and_wait(tp.topic, b"", partition=tp.partition, headers=[(PROBE_HEADER, b"1")])
                for tp in partitions
            )
        )
        offsets = {tp: meta.offset for tp, meta in zip(partitions, sent, strict=True)}
        consumer.assign(partitions)
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        missing = set(partitions)
        while missing:
            batches = await consumer.getmany(*missing, timeout_ms=100)
            for tp, records in batches.items():
                if any(r.offset == offsets[tp] for r in records):
                    missing.discard(tp)
        await admin.delete_records({tp: RecordsToDelete(offset + 1) for tp, offset in offsets.items()})
    finally:
        await consumer.stop()
        await producer.stop()
