"""The two sides of the Redis fidelity suite: the mock (virtual clock) and a real Redis.

Every scenario runs on both with the same assertions; a divergence fails. Time moves
with ``side.elapse(seconds)``: the mock's VirtualClock jumps, the real side sleeps (the
TTLs in the scenarios are 50-300 ms, so it stays fast). The real side is the Redis at
``INTEGRATION_KIT_REDIS_URL``, else the run's Redis that the kit starts (``ik_redis``:
docker or local backend; skipped with the kit's reason when none can run). It uses
database ``FIDELITY_DB`` with per-test key names.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from integration_kit.errors import ErrorCode, IntegrationKitError, has_code
from integration_kit.mocks import MockRedisClient, VirtualClock
from integration_kit.services.base import Endpoint, RedisService
from integration_kit.services.session import ServiceSession

FIDELITY_DB = 10  # the layer tests use 11-15 (see tests/integration/redis)
MOCK_VERSION = "7.0"  # the Redis the suite runs against in development and CI
#: The newest Redis the machine runs (scripts/provision.sh builds integration-kit/redis:8
#: from Debian 13's packages): hash-field TTLs (7.4+) and HGETEX/HSETEX (8.0) are compared
#: against it, with the mock emulating the same version.
NEWEST_VERSION = "8"


@dataclass
class Side:
    """One side of the comparison: a client, a way to let time pass, a key namespace."""

    name: str
    client: aioredis.Redis
    version: tuple[int, ...]
    prefix: str
    clock: VirtualClock | None = None
    other: aioredis.Redis | None = None  # a second connection to the same database
    raw: aioredis.Redis | None = None  # the same database without decoding (DUMP payloads)

    def key(self, name: str) -> str:
        return self.prefix + name

    async def elapse(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    async def now_ms(self) -> int:
        """The server's time in ms (``TIME``), for absolute deadlines."""
        sec, usec = await self.client.time()
        return int(sec) * 1000 + int(usec) // 1000


async def _sides(prefix: str, mock_version: str, connect: Any) -> AsyncIterator[Side]:
    """A mock side emulating ``mock_version``, or (``connect`` given) a real one."""
    if connect is None:
        clock = VirtualClock(start=1_700_000_000.123)
        client = MockRedisClient(clock=clock, version=mock_version, decode_responses=True)
        other = MockRedisClient(server=client.server, decode_responses=True)
        raw = MockRedisClient(server=client.server)
        yield Side("mock", client, tuple(int(p) for p in mock_version.split(".")), prefix, clock, other, raw)
        for each in (client, other, raw):
            await each.aclose()
        return
    client, other, raw = connect(True), connect(True), connect(False)
    try:
        version = await _server_version(client)
        yield Side("real", client, version, prefix, None, other, raw)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        for each in (client, other, raw):
            await each.aclose()


async def _server_version(client: aioredis.Redis) -> tuple[int, ...]:
    info: dict[str, Any] = await client.info("server")
    return tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])


@pytest.fixture(
    params=[pytest.param("mock", marks=pytest.mark.unit), pytest.param("real", marks=pytest.mark.integration)]
)
async def side(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    prefix = f"ikfid:{uuid.uuid4().hex[:10]}:"
    connect: Any = None
    if request.param == "real":
        url = os.environ.get("INTEGRATION_KIT_REDIS_URL")
        if url:

            def connect(decode: bool) -> aioredis.Redis:
                return aioredis.Redis.from_url(url, db=FIDELITY_DB, decode_responses=decode)
        else:  # the run's Redis, started by the kit (docker or local); skipped when none can run
            connect = _connector(request.getfixturevalue("ik_redis"))
    async for made in _sides(prefix, MOCK_VERSION, connect):
        yield made


def _connector(endpoint: Endpoint) -> Any:
    def connect(decode: bool) -> aioredis.Redis:
        return aioredis.Redis(host=endpoint.host, port=endpoint.port, db=FIDELITY_DB, decode_responses=decode)

    return connect


@pytest.fixture(scope="session")
def newest_redis(ik_session: ServiceSession, ik_redis: Endpoint) -> Endpoint:
    """The newest Redis this machine runs: a second Redis of the run, version 8.

    Where the run's Redis runs on docker, it must be there too (provisioning builds its
    image): a missing image fails the scenarios. On the local backend (Debian 12 has
    Redis 7 only) and on external servers of another version they skip, saying so."""
    backend = ik_session.get(RedisService()).backend_name
    spec = RedisService(name="redis-newest", version=NEWEST_VERSION)
    try:
        return ik_session.endpoint(spec)
    except IntegrationKitError as exc:
        absent = (ErrorCode.SVC_VERSION_UNAVAILABLE, ErrorCode.SVC_VERSION_MISMATCH, ErrorCode.SVC_NO_BACKEND)
        if backend != "docker" and any(has_code(exc, code) for code in absent):
            pytest.skip(f"no Redis {NEWEST_VERSION} on the {backend} backend: {exc.message}")
        raise


@pytest.fixture(
    params=[pytest.param("mock", marks=pytest.mark.unit), pytest.param("real", marks=pytest.mark.integration)]
)
async def newest(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    """A side of the newest Redis: the mock emulating it, or the real server."""
    prefix = f"ikfid:{uuid.uuid4().hex[:10]}:"
    connect = _connector(request.getfixturevalue("newest_redis")) if request.param == "real" else None
    async for made in _sides(prefix, NEWEST_VERSION + ".0", connect):
        yield made
