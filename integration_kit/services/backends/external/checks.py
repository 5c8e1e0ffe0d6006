"""Is an external service there, and which version is it? Through each service's driver.

Each check proves the service answers (asyncpg ``SELECT 1``, redis-py ``PING``, aiokafka
metadata with a live broker) and returns the server's version where the protocol tells
it (PostgreSQL ``server_version``, Redis ``INFO server``; Kafka does not report one).
:func:`check_reachable` polls a check until the deadline, else ``IK-EXTERNAL-UNREACHABLE``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from integration_kit.errors import ErrorCode, ServiceError, WaitTimeoutError
from integration_kit.redaction import redact_url
from integration_kit.services.base import Endpoint
from integration_kit.services.readiness import run_blocking
from integration_kit.waiting import Backoff, wait_until

_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.5, jitter=0.3)


async def _postgres_check(endpoint: Endpoint, timeout: float) -> str | None:
    import asyncpg

    conn = await asyncpg.connect(
        host=endpoint.host,
        port=endpoint.port,
        user=endpoint.user,
        password=endpoint.password,
        database=endpoint.database,
        timeout=timeout,
    )
    try:
        await conn.fetchval("SELECT 1", timeout=timeout)
        return str(await conn.fetchval("SHOW server_version", timeout=timeout)).split()[0]
    finally:
        await conn.close(timeout=timeout)


async def _redis_check(endpoint: Endpoint, timeout: float) -> str | None:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    client = aioredis.Redis(
        retry=Retry(NoBackoff(), 0),  # we poll ourselves; the driver's retries hide its error
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.user,
        password=endpoint.password,
        ssl=bool(endpoint.extra.get("ssl")),
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )
    try:
        if not await client.ping():
            raise ConnectionError("PING returned false")
        info = await client.info("server")
        version = info.get("redis_version")
        return None if version is None else str(version)
    finally:
        await client.aclose()


async def _kafka_check(endpoint: Endpoint, timeout: float) -> str | None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=endpoint.bootstrap_servers, request_timeout_ms=max(100, int(timeout * 1000))
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise ConnectionError("metadata lists no live broker")
        return None  # a broker does not tell its release
    finally:
        await admin.close()


CHECKS: Mapping[str, Callable[[Endpoint, float], Awaitable[str | None]]] = {
    "postgres": _postgres_check,
    "redis": _redis_check,
    "kafka": _kafka_check,
}


def check_reachable(kind: str, endpoint: Endpoint, *, timeout: float, url: str) -> str | None:
    """Poll the driver check until it passes and return the server's version (None where
    unknown); ``IK-EXTERNAL-UNREACHABLE`` at the deadline."""
    check = CHECKS[kind]
    deadline = time.monotonic() + timeout

    driver_errors: list[BaseException] = []
    versions: list[str | None] = []

    async def attempt() -> bool:
        remaining = max(0.05, deadline - time.monotonic())
        try:
            versions.append(await check(endpoint, min(remaining, 5.0)))
        except Exception as exc:
            driver_errors.append(exc)
            raise
        return True

    async def poll() -> None:
        await wait_until(
            cast(Callable[[], Any], attempt),
            timeout=timeout,
            backoff=_BACKOFF,
            what=f"{kind} at {endpoint.address}",
        )

    try:
        run_blocking(poll)
    except WaitTimeoutError as exc:
        # The driver's own error beats the deadline's cancellation as the cause.
        driver_error = driver_errors[-1] if driver_errors else exc.__cause__
        cause = (
            f"{type(driver_error).__name__}: {driver_error}"
            if driver_error is not None
            else exc.context.get("last", "no answer")
        )
        raise ServiceError(
            ErrorCode.EXTERNAL_UNREACHABLE,
            service=kind,
            url=redact_url(url),
            timeout=timeout,
            cause=cause,
        ) from (driver_error or exc)
    return versions[-1] if versions else None
