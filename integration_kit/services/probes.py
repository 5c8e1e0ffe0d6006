"""Protocol-level readiness probes for PostgreSQL, Redis and Kafka, shared by the backends.

Each probe makes one attempt and raises on failure; :func:`wait_ready` polls one with
exponential backoff until a deadline. A backend calls it after the server's final
"ready" state (log line, port) to prove that clients can really talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

from integration_kit.services.base import Endpoint
from integration_kit.waiting import Backoff, wait_until

PROBE_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.4, jitter=0.3)
PROBE_TOPIC = "_ik_probe"

Probe = Callable[[Endpoint], Awaitable[None]]


async def postgres_probe(endpoint: Endpoint, *, attempt_timeout: float = 5.0) -> None:
    """``SELECT 1`` over a fresh asyncpg connection."""
    import asyncpg

    conn = await asyncpg.connect(endpoint.dsn, timeout=attempt_timeout)
    try:
        value = await conn.fetchval("SELECT 1", timeout=attempt_timeout)
    finally:
        await conn.close(timeout=attempt_timeout)
    if value != 1:
        raise RuntimeError(f"SELECT 1 returned {value!r}")


async def redis_probe(endpoint: Endpoint, *, attempt_timeout: float = 5.0) -> None:
    """``PING`` over a fresh redis-py connection."""
    import redis.asyncio as aioredis

    client = aioredis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        password=endpoint.password,
        socket_connect_timeout=attempt_timeout,
        socket_timeout=attempt_timeout,
    )
    try:
        if not await client.ping():
            raise RuntimeError("PING returned false")
    finally:
        await client.aclose()


async def kafka_probe(endpoint: Endpoint, *, attempt_timeout: float = 10.0) -> None:
    """Metadata with a live broker, then a round trip: produce one record and consume it.

    The consumer commits through a group, so the group coordinator (and its offsets
    topic) is ready before the first test subscribes.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    servers = endpoint.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=int(attempt_timeout * 1000))
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise RuntimeError("metadata lists no live broker")
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(PROBE_TOPIC, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=servers, request_timeout_ms=int(attempt_timeout * 1000))
    await producer.start()
    try:
        token = uuid.uuid4().hex.encode()
        meta = await asyncio.wait_for(producer.send_and_wait(PROBE_TOPIC, token), attempt_timeout)
    finally:
        await producer.stop()

    partition = TopicPartition(PROBE_TOPIC, meta.partition)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers,
        group_id="_ik_probe",
        enable_auto_commit=False,
        request_timeout_ms=int(attempt_timeout * 1000),
    )
    await consumer.start()
    try:
        consumer.assign([partition])
        consumer.seek(partition, meta.offset)
        record = await asyncio.wait_for(consumer.getone(), attempt_timeout)
        if record.value != token:
            raise RuntimeError("probe consumed a different record than it produced")
        await asyncio.wait_for(consumer.commit(), attempt_timeout)
    finally:
        await consumer.stop()


PROBES: dict[str, Probe] = {
    "postgres": postgres_probe,
    "redis": redis_probe,
    "kafka": kafka_probe,
}


def wait_ready(kind: str, endpoint: Endpoint, *, deadline: float) -> None:
    """Poll the ``kind`` probe until it passes or the ``time.monotonic()`` deadline passes.

    Raises :class:`~integration_kit.errors.WaitTimeoutError` chained to the last failure.
    Runs its own event loop: call it from a plain (non-async) thread.
    """
    probe = PROBES[kind]
    timeout = max(deadline - time.monotonic(), 0.05)
    asyncio.run(
        wait_until(
            lambda: _passes(probe, endpoint),
            timeout=timeout,
            backoff=PROBE_BACKOFF,
            what=f"{kind} probe at {endpoint.address}",
        )
    )


async def _passes(probe: Probe, endpoint: Endpoint) -> bool:
    await probe(endpoint)
    return True
