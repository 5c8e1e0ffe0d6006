"""health.py against the real services of the run, and against nothing at all."""

from __future__ import annotations

import socket
import time
import uuid

import pytest

from integration_kit.errors import ErrorCode, HealthCheckError, raises_code
from integration_kit.health import (
    CommandCheck,
    HttpCheck,
    KafkaCheck,
    PostgresCheck,
    RedisCheck,
    TcpCheck,
    wait_healthy,
)
from integration_kit.services.base import Endpoint


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
async def test_postgres_query_through_the_health_check(ik_postgres: Endpoint) -> None:
    await wait_healthy(PostgresCheck(dsn=ik_postgres.dsn), timeout=10)
    import asyncpg

    connection = await asyncpg.connect(ik_postgres.dsn)
    try:
        assert await connection.fetchval("select 6 * 7") == 42
    finally:
        await connection.close()


@pytest.mark.integration
async def test_redis_set_get_through_the_health_check(ik_redis: Endpoint) -> None:
    await wait_healthy(RedisCheck(url=ik_redis.url), timeout=10)
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(ik_redis.url)
    key = f"ik-health-{uuid.uuid4().hex}"
    try:
        await client.set(key, "value", px=5000)
        assert await client.get(key) == b"value"
    finally:
        await client.delete(key)
        await client.aclose()


@pytest.mark.integration
async def test_kafka_roundtrip_through_the_health_check(ik_kafka: Endpoint) -> None:
    check = KafkaCheck(bootstrap_servers=ik_kafka.bootstrap_servers)
    await wait_healthy(check, timeout=30)
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=ik_kafka.bootstrap_servers)
    await admin.start()
    try:
        assert check.probe_topic not in await admin.list_topics(), "the probe topic is cleaned up"
    finally:
        await admin.close()


@pytest.mark.unit
@pytest.mark.parametrize(
    "check",
    [
        lambda port: TcpCheck(host="127.0.0.1", port=port),
        lambda port: HttpCheck(url=f"http://127.0.0.1:{port}/health"),
        lambda port: PostgresCheck(dsn=f"postgresql://x@127.0.0.1:{port}/x"),
        lambda port: RedisCheck(url=f"redis://127.0.0.1:{port}/0"),
    ],
    ids=["tcp", "http", "postgres", "redis"],
)
async def test_closed_port_fails_within_the_deadline_with_the_cause(check) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    with raises_code(ErrorCode.HEALTH_TIMEOUT) as caught:
        await wait_healthy(check(_closed_port()), timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < 2.0
    error = caught[0]
    assert isinstance(error, TimeoutError)
    assert error.__cause__ is not None
    assert "refused" in error.context["last"].lower() or "connect" in error.context["last"].lower()


@pytest.mark.unit
async def test_command_check_reports_exit_code() -> None:
    await wait_healthy(CommandCheck(argv=["true"]), timeout=1)
    with pytest.raises(HealthCheckError) as info:
        await wait_healthy(CommandCheck(argv=["sh", "-c", "echo nope; exit 3"]), timeout=1.0)
    assert "exit code 3" in info.value.context["last"]
    assert "nope" in info.value.context["last"]
