"""Health checks: TCP, HTTP, command, and protocol checks for PostgreSQL, Redis and Kafka.

A check is an object with an async ``probe()`` that returns when the target is healthy
and raises otherwise. :func:`wait_healthy` polls a check with backoff under a deadline
and raises :class:`~integration_kit.errors.HealthCheckError` (``IK-HEALTH-TIMEOUT``)
carrying the last failure. Driver imports happen inside the probes.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from integration_kit.errors import ErrorCode, HealthCheckError
from integration_kit.redaction import redact_url
from integration_kit.waiting import Backoff, check_timeout


class HealthCheck(Protocol):
    """Anything with a description and an async probe that raises while unhealthy."""

    def describe(self) -> str: ...

    async def probe(self) -> None: ...


class CheckFailed(Exception):
    """A probe ran but found the target unhealthy."""


@dataclass(frozen=True, kw_only=True)
class TcpCheck:
    """The port accepts a TCP connection."""

    host: str
    port: int
    connect_timeout: float = 1.0

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def probe(self) -> None:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        writer.close()
        await writer.wait_closed()


@dataclass(frozen=True, kw_only=True)
class HttpCheck:
    """An HTTP GET answers with an expected status."""

    url: str
    expect_status: Sequence[int] = (200,)
    request_timeout: float = 2.0

    def describe(self) -> str:
        return f"GET {self.url}"

    async def probe(self) -> None:
        status = await asyncio.to_thread(self._get)
        if status not in self.expect_status:
            raise CheckFailed(f"status {status}, expected one of {list(self.expect_status)}")

    def _get(self) -> int:
        try:
            with urllib.request.urlopen(self.url, timeout=self.request_timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


@dataclass(frozen=True, kw_only=True)
class CommandCheck:
    """A command exits with status 0."""

    argv: Sequence[str]
    command_timeout: float = 5.0

    def describe(self) -> str:
        return "$ " + " ".join(self.argv)

    async def probe(self) -> None:
        process = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), self.command_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            tail = output.decode(errors="replace").strip()[-300:]
            raise CheckFailed(f"exit code {process.returncode}: {tail}")


@dataclass(frozen=True, kw_only=True)
class PostgresCheck:
    """``SELECT 1`` over TCP succeeds.

    Servers that initialize with a temporary server first (the official image) listen
    only on a Unix socket during init, so a TCP ``SELECT 1`` passes only in the final
    ready state.
    """

    dsn: str
    connect_timeout: float = 2.0

    def describe(self) -> str:
        return f"postgres SELECT 1 at {redact_url(self.dsn)}"

    async def probe(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(self.dsn, timeout=self.connect_timeout)
        try:
            value = await connection.fetchval("SELECT 1")
            if value != 1:
                raise CheckFailed(f"SELECT 1 returned {value!r}")
        finally:
            await connection.close(timeout=self.connect_timeout)


@dataclass(frozen=True, kw_only=True)
class RedisCheck:
    """``PING`` answers ``PONG``."""

    url: str
    connect_timeout: float = 1.0

    def describe(self) -> str:
        return f"redis PING at {redact_url(self.url)}"

    async def probe(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            self.url, socket_connect_timeout=self.connect_timeout, socket_timeout=self.connect_timeout
        )
        try:
            if not await client.ping():
                raise CheckFailed("PING did not answer PONG")
        finally:
            await client.aclose()


@dataclass(frozen=True, kw_only=True)
class KafkaCheck:
    """Metadata lists a live broker, and (``probe_roundtrip``) a message makes a round trip.

    The round trip goes through a probe topic that is created with one partition and
    deleted afterwards, so the check proves the broker can elect a leader, append and
    serve a fetch, not only that it answers metadata requests.
    """

    bootstrap_servers: str
    probe_roundtrip: bool = True
    request_timeout: float = 5.0
    probe_topic: str = field(default_factory=lambda: f"ik-health-{uuid.uuid4().hex[:12]}")

    def describe(self) -> str:
        return f"kafka metadata + probe at {self.bootstrap_servers}"

    async def probe(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic

        timeout_ms = int(self.request_timeout * 1000)
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=timeout_ms)
        await admin.start()
        try:
            cluster = await admin.describe_cluster()
            if not cluster.get("brokers"):
                raise CheckFailed("metadata lists no live broker")
            if not self.probe_roundtrip:
                return
            await admin.create_topics([NewTopic(self.probe_topic, 1, 1)])
            try:
                await self._roundtrip(AIOKafkaProducer, AIOKafkaConsumer, TopicPartition)
            finally:
                await admin.delete_topics([self.probe_topic])
        finally:
            await admin.close()

    async def _roundtrip(self, producer_cls: type, consumer_cls: type, tp_cls: type) -> None:
        payload = uuid.uuid4().bytes
        producer = producer_cls(bootstrap_servers=self.bootstrap_servers, acks="all")
        await producer.start()
        try:
            metadata = await asyncio.wait_for(
                _send_when_leader(producer, self.probe_topic, payload), self.request_timeout
            )
        finally:
            await producer.stop()
        consumer = consumer_cls(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            partition = tp_cls(self.probe_topic, 0)
            consumer.assign([partition])
            consumer.seek(partition, metadata.offset)
            record = await asyncio.wait_for(consumer.getone(), self.request_timeout)
            if record.value != payload:
                raise CheckFailed("probe message read back differs from what was sent")
        finally:
            await consumer.stop()


async def _send_when_leader(producer: Any, topic: str, payload: bytes) -> Any:
    """Send, retrying while the fresh probe topic has no leader yet."""
    from aiokafka.errors import KafkaError as DriverKafkaError

    backoff = Backoff(initial=0.01, maximum=0.2)
    for delay in backoff.delays():
        try:
            return await producer.send_and_wait(topic, payload)
        except DriverKafkaError:
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def wait_healthy(
    check: HealthCheck,
    *,
    timeout: float = 30.0,
    backoff: Backoff | None = None,
) -> float:
    """Poll ``check`` until it passes; return the seconds it took.

    Raises ``IK-HEALTH-TIMEOUT`` at the deadline with the last failure chained. A probe
    that hangs is cancelled at the deadline, so the deadline holds.
    """
    backoff = backoff or Backoff(initial=0.005, maximum=0.25)
    check_timeout(timeout, check.describe())
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    last: BaseException | None = None
    for delay in backoff.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(check.probe(), remaining)
        except TimeoutError as exc:
            # A probe cut off by the deadline says less than an earlier real failure.
            if last is None or loop.time() < deadline:
                last = exc
        except Exception as exc:  # any failure of a probe means "not yet"
            last = exc
        else:
            return loop.time() - started
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    cause = "never probed" if last is None else f"{type(last).__name__}: {last}"
    raise HealthCheckError(
        ErrorCode.HEALTH_TIMEOUT, check=check.describe(), timeout=timeout, last=cause
    ) from last
