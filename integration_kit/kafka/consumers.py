"""Robust consumer start: subscribe once the topics exist, wait until partitions are owned.

The usual flakiness: a consumer subscribes before its topic exists (the subscription's
metadata request may even auto-create it with the wrong partition count), or the test
produces before the group rebalance gave the consumer its partitions and before its
start offsets were resolved, so ``auto_offset_reset="latest"`` skips the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError as _DriverError

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.admin import CONNECT_BACKOFF, KafkaTarget, bootstrap_servers_of, unreachable
from integration_kit.kafka.readiness import NEVER_CHECKED, never_checked, not_ready
from integration_kit.services.namespace import Namespace
from integration_kit.waiting import Backoff

SUBSCRIBE_BACKOFF = Backoff(initial=0.01, maximum=0.25)
ASSIGN_BACKOFF = Backoff(initial=0.002, maximum=0.05, jitter=0.2)

# Client settings that make test consumers react in milliseconds instead of seconds.
TEST_CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "enable_auto_commit": False,
    "fetch_max_wait_ms": 100,
    "retry_backoff_ms": 20,
    "metadata_max_age_ms": 5_000,
}


def unique_group_id(prefix: str = "ik") -> str:
    """A consumer group id no other test uses: ``<prefix>-<worker>-<random>``."""
    return f"{prefix}-{Namespace.current().worker}-{uuid.uuid4().hex[:12]}"


async def start_with_deadline(factory: Callable[[], Any], kafka: KafkaTarget, *, timeout: float) -> Any:
    """Build a client with ``factory()`` and start it, retrying until ``timeout``.

    Raises ``IK-KAFKA-UNREACHABLE`` at the deadline; a failed client is stopped.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: BaseException | None = None
    for delay in CONNECT_BACKOFF.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        client = factory()
        try:
            await asyncio.wait_for(client.start(), remaining)
            return client
        except (TimeoutError, _DriverError, OSError) as exc:
            last = exc
            with contextlib.suppress(Exception):
                await client.stop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise unreachable(kafka, timeout, f"{type(last).__name__}: {last}" if last else "no attempt") from last


async def subscribe_with_backoff(
    consumer: AIOKafkaConsumer,
    topics: Sequence[str] | str,
    *,
    timeout: float = 10.0,
    wait: bool = True,
    backoff: Backoff = SUBSCRIBE_BACKOFF,
    **subscribe_kwargs: Any,
) -> set[TopicPartition]:
    """Subscribe once every topic is in the consumer's metadata, polling with backoff.

    With ``wait`` (default) also :func:`wait_for_assignment` within the same deadline
    and return the assignment. ``IK-KAFKA-TOPIC-NOT-READY`` if a topic never shows up.
    """
    names = [topics] if isinstance(topics, str) else list(topics)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    missing: dict[str, list[str]] = {name: [NEVER_CHECKED] for name in names}
    for delay in backoff.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            known = await asyncio.wait_for(consumer.topics(), remaining)
        except (TimeoutError, _DriverError, OSError) as exc:
            if not isinstance(exc, TimeoutError) or never_checked(missing):
                missing = {name: [f"metadata request failed: {exc!r}"] for name in names}
        else:
            missing = {name: ["not in the consumer's metadata"] for name in names if name not in known}
            if not missing:
                break
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    if missing:
        raise not_ready(timeout, missing)
    consumer.subscribe(names, **subscribe_kwargs)
    if not wait:
        return set()
    return await wait_for_assignment(consumer, timeout=max(deadline - loop.time(), 0.001))


def _expected_partitions(consumer: AIOKafkaConsumer) -> set[TopicPartition] | None:
    """All partitions of the consumer's subscription, or None while metadata lacks one."""
    expected: set[TopicPartition] = set()
    for topic in consumer.subscription():
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            return None
        expected.update(TopicPartition(topic, n) for n in numbers)
    return expected or None


async def wait_for_assignment(
    consumer: AIOKafkaConsumer,
    *,
    partitions: Iterable[TopicPartition] | None = None,
    timeout: float = 10.0,
    resolve_positions: bool = True,
) -> set[TopicPartition]:
    """Wait until ``consumer`` owns ``partitions`` (default: every partition it subscribed to).

    Then (``resolve_positions``) wait until its start offset in each is known, so a
    message produced after this returns is seen even with ``auto_offset_reset="latest"``.
    Returns the assignment; ``IK-KAFKA-ASSIGNMENT-TIMEOUT`` at the deadline.
    """
    wanted = set(partitions) if partitions is not None else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    expected: set[TopicPartition] | None = wanted
    for delay in ASSIGN_BACKOFF.delays():
        expected = wanted if wanted is not None else _expected_partitions(consumer)
        assigned = consumer.assignment()
        if expected is not None and expected <= assigned:
            break
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise _assignment_timeout(consumer, expected, timeout)
        await asyncio.sleep(min(delay, remaining))
    assigned = set(consumer.assignment())
    if resolve_positions:
        try:
            remaining = max(deadline - loop.time(), 0.001)
            await asyncio.wait_for(asyncio.gather(*(consumer.position(tp) for tp in assigned)), remaining)
        except (TimeoutError, _DriverError) as exc:
            raise _assignment_timeout(consumer, expected, timeout, cause=exc) from exc
    return assigned


def _assignment_timeout(
    consumer: AIOKafkaConsumer,
    expected: set[TopicPartition] | None,
    timeout: float,
    *,
    cause: BaseException | None = None,
) -> KafkaError:
    def show(tps: Iterable[TopicPartition]) -> str:
        return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps)) or "nothing"

    subscribed = sorted(consumer.subscription())
    return KafkaError(
        ErrorCode.KAFKA_ASSIGNMENT_TIMEOUT,
        expected=show(expected) if expected else f"the partitions of {subscribed}",
        assigned=show(consumer.assignment()),
        timeout=timeout,
        group=consumer._group_id,
        cause=repr(cause) if cause else None,
    )


async def create_test_consumer(
    kafka: KafkaTarget,
    *topics: str,
    group_id: str | None = None,
    timeout: float = 10.0,
    **kwargs: Any,
) -> AIOKafkaConsumer:
    """A started consumer for tests, subscribed to ``topics`` and owning their partitions.

    Defaults: a unique group id, ``auto_offset_reset="earliest"``, no auto commit and
    short fetch/retry waits (:data:`TEST_CONSUMER_DEFAULTS`); ``kwargs`` override them.
    The caller stops it (``await consumer.stop()``); :func:`open_test_consumer` does.
    """
    servers = bootstrap_servers_of(kafka)
    options = {**TEST_CONSUMER_DEFAULTS, **kwargs}
    group = group_id if group_id is not None else unique_group_id()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    consumer: AIOKafkaConsumer = await start_with_deadline(
        lambda: AIOKafkaConsumer(bootstrap_servers=servers, group_id=group, **options),
        servers,
        timeout=timeout,
    )
    if topics:
        try:
            await subscribe_with_backoff(consumer, list(topics), timeout=max(deadline - loop.time(), 0.001))
        except BaseException:
            await consumer.stop()
            raise
    return consumer


@contextlib.asynccontextmanager
async def open_test_consumer(
    kafka: KafkaTarget, *topics: str, group_id: str | None = None, timeout: float = 10.0, **kwargs: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    """:func:`create_test_consumer` as an async context manager that stops the consumer."""
    consumer = await create_test_consumer(kafka, *topics, group_id=group_id, timeout=timeout, **kwargs)
    try:
        yield consumer
    finally:
        await consumer.stop()


START_POSITIONS = ("beginning", "end")


async def create_assigned_consumer(
    kafka: KafkaTarget,
    *topics: str,
    start: str = "beginning",
    timeout: float = 10.0,
    **kwargs: Any,
) -> AIOKafkaConsumer:
    """A started consumer *assigned* every partition of ``topics``, in no consumer group.

    No group means no rebalance to wait for and nothing committed: the consumer reads
    from known positions, ``start="beginning"`` (every record) or ``"end"`` (only what
    is produced after this returns; the positions are resolved before it returns).
    A topic that does not exist (or never gets a leader in ``timeout``) raises
    ``IK-KAFKA-TOPIC-NOT-READY``. ``kwargs`` go to ``AIOKafkaConsumer``.
    """
    if start not in START_POSITIONS:
        raise ValueError(f"start must be one of {START_POSITIONS}, not {start!r}")
    servers = bootstrap_servers_of(kafka)
    options = {**TEST_CONSUMER_DEFAULTS, **kwargs}
    options.pop("group_id", None)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    consumer: AIOKafkaConsumer = await start_with_deadline(
        lambda: AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, **options),
        servers,
        timeout=timeout,
    )
    try:
        partitions: list[TopicPartition] = []
        for topic in topics:
            found: set[int] | None = None
            for delay in SUBSCRIBE_BACKOFF.delays():
                await consumer.topics()  # a metadata refresh
                found = consumer.partitions_for_topic(topic)
                if found or loop.time() >= deadline:
                    break
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0)))
            if not found:
                raise not_ready(timeout, {topic: ["not found in the cluster's metadata"]})
            partitions.extend(TopicPartition(topic, p) for p in sorted(found))
        consumer.assign(partitions)
        if start == "beginning":
            await consumer.seek_to_beginning(*partitions)
        else:
            await consumer.seek_to_end(*partitions)
        for tp in partitions:  # resolve now: "end" means the end as of this call
            await consumer.position(tp)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


@contextlib.asynccontextmanager
async def open_assigned_consumer(
    kafka: KafkaTarget, *topics: str, start: str = "beginning", timeout: float = 10.0, **kwargs: Any
) -> AsyncIterator[AIOKafkaConsumer]:
    """:func:`create_assigned_consumer` as an async context manager that stops the consumer."""
    consumer = await create_assigned_consumer(kafka, *topics, start=start, timeout=timeout, **kwargs)
    try:
        yield consumer
    finally:
        await consumer.stop()
