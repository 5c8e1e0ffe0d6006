"""The ``external`` backend: services that already run somewhere, given by URL.

URLs come from the settings (``postgres_url``, ``redis_url``, ``kafka_bootstrap_servers``;
env ``INTEGRATION_KIT_POSTGRES_URL``... or ``[tool.integration_kit]`` in pyproject).
The kit never stops these services; it only creates and drops what lives in its own
namespace there. ``start`` parses the URL (``IK-EXTERNAL-INVALID-URL``) and proves the
service answers through its driver (asyncpg ``SELECT 1``, redis-py ``PING``, aiokafka
metadata with a live broker) within the deadline, else ``IK-EXTERNAL-UNREACHABLE`` with
the driver's last error.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, ServiceError, WaitTimeoutError
from integration_kit.health import redact_url
from integration_kit.services.base import Endpoint, ServiceSpec
from integration_kit.waiting import Backoff, wait_until

SETTING_FOR = {
    "postgres": "postgres_url",
    "redis": "redis_url",
    "kafka": "kafka_bootstrap_servers",
}
EXAMPLES = {
    "postgres": "postgresql://user:password@host:5432/database",
    "redis": "redis://[:password@]host:6379/0",
    "kafka": "host:9092[,host2:9092]",
}
_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.5, jitter=0.3)


def _invalid(kind: str, url: str, cause: str) -> ServiceError:
    return ServiceError(
        ErrorCode.EXTERNAL_INVALID_URL, url=url, service=kind, cause=cause, example=EXAMPLES[kind]
    )


def _port(kind: str, url: str, raw: str | int | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        raise _invalid(kind, url, f"port {raw!r} is not a number") from None
    if not 0 < port < 65536:
        raise _invalid(kind, url, f"port {port} is out of range 1..65535")
    return port


def parse_url(kind: str, url: str) -> Endpoint:
    """The :class:`Endpoint` a service URL names; ``IK-EXTERNAL-INVALID-URL`` if malformed."""
    if kind == "kafka":
        return _parse_kafka(url)
    parts = urlsplit(url.strip())
    schemes = {"postgres": ("postgresql", "postgres"), "redis": ("redis", "rediss")}[kind]
    if parts.scheme not in schemes:
        raise _invalid(kind, url, f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(schemes)}")
    try:
        raw_port = parts.port
    except ValueError as exc:
        raise _invalid(kind, url, f"bad port: {exc}") from exc
    if not parts.hostname:
        raise _invalid(kind, url, "no host")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    path = parts.path.lstrip("/")
    if kind == "postgres":
        port = _port(kind, url, raw_port, 5432)
        return Endpoint(
            host=parts.hostname,
            port=port,
            user=user,
            password=password,
            database=unquote(path) or "postgres",
            extra={"url": url},
        )
    if path and not path.isdigit():
        raise _invalid(kind, url, f"database {path!r} is not an index")
    return Endpoint(
        host=parts.hostname,
        port=_port(kind, url, raw_port, 6379),
        user=user,
        password=password,
        database=path or "0",
        extra={"url": url, "ssl": parts.scheme == "rediss"},
    )


def _parse_kafka(url: str) -> Endpoint:
    servers = []
    for item in url.split(","):
        item = item.strip()
        for prefix in ("PLAINTEXT://", "kafka://"):
            if item.startswith(prefix):
                item = item[len(prefix) :]
        if not item:
            continue
        host, sep, raw_port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host:
            raise _invalid("kafka", url, f"{item!r} is not host:port")
        servers.append((host, _port("kafka", url, raw_port, 9092) if raw_port else None))
    if not servers:
        raise _invalid("kafka", url, "no servers")
    for host, port in servers:
        if port is None:
            raise _invalid("kafka", url, f"{host!r} has no port")
    listed = ",".join(f"{h}:{p}" for h, p in servers)
    host, port = servers[0]
    assert port is not None
    return Endpoint(host=host, port=port, extra={"bootstrap_servers": listed})


# --- reachability -------------------------------------------------------------------------


async def _postgres_check(endpoint: Endpoint, timeout: float) -> None:
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
    finally:
        await conn.close(timeout=timeout)


async def _redis_check(endpoint: Endpoint, timeout: float) -> None:
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
    finally:
        await client.aclose()


async def _kafka_check(endpoint: Endpoint, timeout: float) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=endpoint.bootstrap_servers, request_timeout_ms=max(100, int(timeout * 1000))
    )
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise ConnectionError("metadata lists no live broker")
    finally:
        await admin.close()


CHECKS: Mapping[str, Callable[[Endpoint, float], Awaitable[None]]] = {
    "postgres": _postgres_check,
    "redis": _redis_check,
    "kafka": _kafka_check,
}


def check_reachable(kind: str, endpoint: Endpoint, *, timeout: float, url: str) -> None:
    """Poll the driver check until it passes; ``IK-EXTERNAL-UNREACHABLE`` at the deadline."""
    check = CHECKS[kind]
    deadline = time.monotonic() + timeout

    driver_errors: list[BaseException] = []

    async def attempt() -> bool:
        remaining = max(0.05, deadline - time.monotonic())
        try:
            await check(endpoint, min(remaining, 5.0))
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

    from integration_kit.services.probes import run_blocking

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


# --- the backend --------------------------------------------------------------------------


@dataclass(eq=False)
class ExternalService:
    """A service the kit did not start and never stops."""

    spec: ServiceSpec
    endpoint: Endpoint
    url: str

    def log_tail(self, lines: int = 40) -> str:
        return f"(external service at {redact_url(self.url)}: its log is not available to the kit)"

    def stop(self) -> None:
        """Nothing to do: external services are never stopped by the kit."""

    def detach(self, *, owner_pid: int) -> dict[str, Any]:
        return {"backend": "external"}


def stop_handle(handle: Mapping[str, Any]) -> None:
    """Nothing to stop (see :meth:`ExternalService.stop`)."""


class ExternalBackend:
    """Uses already-running services named by URLs in the settings."""

    name = "external"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()

    def url_for(self, kind: str) -> str | None:
        setting = SETTING_FOR.get(kind)
        return None if setting is None else getattr(self.settings, setting)

    def can_run(self, kind: str) -> tuple[bool, str]:
        url = self.url_for(kind)
        setting = SETTING_FOR.get(kind, kind)
        if url is None:
            return False, f"INTEGRATION_KIT_{setting.upper()} is not set"
        return True, f"{setting}={redact_url(url)}"

    def available(self) -> tuple[bool, str]:
        found = [self.can_run(kind) for kind in SETTING_FOR]
        return any(ok for ok, _ in found), "; ".join(why for _, why in found)

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        url = self.url_for(spec.kind)
        if url is None:
            setting = SETTING_FOR.get(spec.kind, spec.kind)
            raise ServiceError(
                ErrorCode.SVC_NO_BACKEND,
                service=spec.key,
                tried=f"external (INTEGRATION_KIT_{setting.upper()} is not set)",
            )
        return parse_url(spec.kind, url)

    def start(self, spec: ServiceSpec, *, timeout: float) -> ExternalService:
        """Check that the service at the configured URL answers within ``timeout``."""
        endpoint = self.endpoint(spec)
        url = str(self.url_for(spec.kind))
        check_reachable(spec.kind, endpoint, timeout=timeout, url=url)
        return ExternalService(spec=spec, endpoint=endpoint, url=url)

    def reap(self) -> int:
        return 0
