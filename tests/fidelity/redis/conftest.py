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

from integration_kit.mocks import MockRedisClient, VirtualClock

FIDELITY_DB = 10  # the layer tests use 11-15 (see tests/integration/redis)
MOCK_VERSION = "7.0"  # the Redis the suite runs against in development and CI


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


async def _server_version(client: aioredis.Redis) -> tuple[int, ...]:
    info: dict[str, Any] = await client.info("server")
    return tuple(int(p) for p in str(info["redis_version"]).split(".")[:2])


@pytest.fixture(
    params=[pytest.param("mock", marks=pytest.mark.unit), pytest.param("real", marks=pytest.mark.integration)]
)
async def side(request: pytest.FixtureRequest) -> AsyncIterator[Side]:
    prefix = f"ikfid:{uuid.uuid4().hex[:10]}:"
    if request.param == "mock":
        clock = VirtualClock(start=1_700_000_000.123)
        client = MockRedisClient(clock=clock, version=MOCK_VERSION, decode_responses=True)
        other = MockRedisClient(server=client.server, decode_responses=True)
        raw = MockRedisClient(server=client.server)
        yield Side("mock", client, tuple(int(p) for p in MOCK_VERSION.split(".")), prefix, clock, other, raw)
        for each in (client, other, raw):
            await each.aclose()
        return
    url = os.environ.get("INTEGRATION_KIT_REDIS_URL")
    if url:

        def connect(decode: bool) -> aioredis.Redis:
            return aioredis.Redis.from_url(url, db=FIDELITY_DB, decode_responses=decode)
    else:  # the run's Redis, started by the kit (docker or local); skipped when none can run
        endpoint = request.getfixturevalue("ik_redis")

        def connect(decode: bool) -> aioredis.Redis:
            return aioredis.Redis(
                host=endpoint.host, port=endpoint.port, db=FIDELITY_DB, decode_responses=decode
            )

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
