"""Is an external service there, and which version is it? Through each service's driver.

Each check proves the service answers (asyncpg ``SELECT 1``, redis-py ``SELECT`` + ``PING``,
aiokafka metadata with a live broker) and returns the server's version where the protocol
tells it (PostgreSQL ``server_version``, Redis ``INFO server``; Kafka does not report one).
:func:`check_reachable` polls a check until the deadline, else ``IK-EXTERNAL-UNREACHABLE``.

A configuration error is not retried, it fails the first attempt: a refused login
(``IK-EXTERNAL-AUTH-FAILED``), an unknown database (``IK-EXTERNAL-UNKNOWN-DATABASE``), and a
port that speaks another protocol (``IK-EXTERNAL-WRONG-PROTOCOL``: after a driver error the
port is asked which protocol it speaks, :func:`~integration_kit.services.readiness.identify_protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from integration_kit.config import env_name
from integration_kit.errors import ErrorCode, ServiceError, WaitTimeoutError
from integration_kit.redaction import redact_url
from integration_kit.services.backends.external.urls import SETTING_FOR
from integration_kit.services.base import Endpoint
from integration_kit.services.readiness import (
    PROTOCOL_NAMES,
    identify_protocol,
    kafka_sasl_mechanisms,
    run_blocking,
)
from integration_kit.waiting import Backoff, wait_until

_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.5, jitter=0.3)
#: Seconds a driver attempt may hang before the port is asked which protocol it speaks.
_PATIENCE = 1.0


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
        db=int(endpoint.database or 0),  # SELECT on connect: an index out of range fails here
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


class _Refused(BaseException):
    """A configuration error found by an attempt: stops the polling, which retries only
    exceptions (like :class:`~integration_kit.services.readiness.StartCancelled`)."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(str(error))
        self.error = error


def _setting(kind: str) -> str:
    return f"{SETTING_FOR[kind]} ({env_name(SETTING_FOR[kind])})"


def _config_error(kind: str, exc: BaseException, endpoint: Endpoint, url: str) -> ServiceError | None:
    """The coded configuration error a driver's ``exc`` means, or None (worth a retry)."""
    context = {"service": kind, "url": redact_url(url), "setting": _setting(kind)}
    cause = f"{type(exc).__name__}: {exc}"
    if kind == "postgres":
        import asyncpg

        if isinstance(exc, asyncpg.InvalidCatalogNameError):  # 3D000
            return ServiceError(
                ErrorCode.EXTERNAL_UNKNOWN_DATABASE, database=endpoint.database, cause=cause, **context
            )
        if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):  # 28000, 28P01
            return ServiceError(ErrorCode.EXTERNAL_AUTH_FAILED, cause=cause, **context)
    if kind == "redis":
        import redis.exceptions as redis_errors

        if isinstance(exc, redis_errors.AuthenticationError | redis_errors.NoPermissionError):
            return ServiceError(ErrorCode.EXTERNAL_AUTH_FAILED, cause=cause, **context)
        if isinstance(exc, redis_errors.ResponseError) and "DB index" in str(exc):
            return ServiceError(
                ErrorCode.EXTERNAL_UNKNOWN_DATABASE, database=endpoint.database, cause=cause, **context
            )
        if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(("NOAUTH", "WRONGPASS")):
            return ServiceError(ErrorCode.EXTERNAL_AUTH_FAILED, cause=cause, **context)
    return None


def _addresses(kind: str, endpoint: Endpoint) -> list[tuple[str, int]]:
    if kind != "kafka":
        return [(endpoint.host, endpoint.port)]
    found = []
    for item in endpoint.bootstrap_servers.split(","):
        host, _, port = item.rpartition(":")
        found.append((host.strip("[]"), int(port)))
    return found


def _wrong_protocol(kind: str, endpoint: Endpoint, timeout: float) -> tuple[ServiceError | None, bool]:
    """``IK-EXTERNAL-WRONG-PROTOCOL`` if a listed address answers in another protocol
    (``IK-EXTERNAL-SASL-REQUIRED`` if a Kafka one wants SASL), and whether every address
    spoke ``kind`` (then it need not be asked again)."""
    spoken_right = True
    for host, port in _addresses(kind, endpoint):
        spoken = identify_protocol(host, port, timeout=timeout)
        spoken_right = spoken_right and spoken == kind
        if spoken == "kafka" == kind:
            mechanisms = kafka_sasl_mechanisms(host, port, timeout=timeout)
            if mechanisms is not None:  # it is Kafka, but the kit cannot log in to it
                return ServiceError(
                    ErrorCode.EXTERNAL_SASL_REQUIRED,
                    address=f"{host}:{port}",
                    setting=_setting(kind),
                    mechanisms=", ".join(mechanisms) or "none listed",
                ), False
        if spoken is not None and spoken != kind:
            return ServiceError(
                ErrorCode.EXTERNAL_WRONG_PROTOCOL,
                address=f"{host}:{port}",
                setting=_setting(kind),
                expected=PROTOCOL_NAMES[kind],
                actual=PROTOCOL_NAMES[spoken],
            ), False
    return None, spoken_right


def check_reachable(kind: str, endpoint: Endpoint, *, timeout: float, url: str) -> str | None:
    """Poll the driver check until it passes and return the server's version (None where
    unknown); a configuration error at once; ``IK-EXTERNAL-UNREACHABLE`` at the deadline."""
    check = CHECKS[kind]
    deadline = time.monotonic() + timeout

    driver_errors: list[BaseException] = []
    versions: list[str | None] = []
    protocol_known = False  # once the port spoke the right protocol, it is not asked again

    async def ask_protocol() -> ServiceError | None:
        nonlocal protocol_known
        if protocol_known:
            return None
        probe_timeout = max(0.05, min(1.0, deadline - time.monotonic()))
        refused, protocol_known = await asyncio.to_thread(_wrong_protocol, kind, endpoint, probe_timeout)
        return refused

    async def attempt() -> bool:
        remaining = max(0.05, deadline - time.monotonic())
        driver = asyncio.ensure_future(check(endpoint, min(remaining, 5.0)))
        try:
            # A driver talking to a server of another protocol often waits for bytes that
            # never come: after a moment the port is asked what it speaks.
            done, _ = await asyncio.wait({driver}, timeout=_PATIENCE)
            if not done:
                refused = await ask_protocol()
                if refused is not None:
                    raise _Refused(refused)
            versions.append(await driver)
        except Exception as exc:
            driver_errors.append(exc)
            refused = _config_error(kind, exc, endpoint, url) or await ask_protocol()
            if refused is not None:
                raise _Refused(refused) from exc
            raise
        finally:
            if not driver.done():
                driver.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await driver
            elif not driver.cancelled():
                # retrieve a failure that came while this attempt was cancelled: left alone,
                # asyncio logs it when the task is collected, in whatever code runs then
                driver.exception()
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
    except _Refused as refused:
        raise refused.error from refused.__cause__
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
