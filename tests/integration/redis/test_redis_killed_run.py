"""A run killed with SIGKILL during a Redis test leaves its keys; the next run removes exactly those.

Inner pytest sessions run a ``RedisTestCase`` on the external backend against the run's
Redis, with ``redis_databases`` set to one database and a registry of their own
(``INTEGRATION_KIT_CACHE_DIR``). The first is killed while its test runs (the owner key is
absent then: the test sees an empty database); the second must empty that database, take
it and leave it empty, and touch no other database.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from integration_kit.redis.ownership import OWNER_KEY
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

KIT_DB = 10  # not used by the other tests of this layer (they use 11 and up)
NEIGHBOUR_DB = 9

INNER = """
import os
import time

from integration_kit import RedisTestCase


class TestKilled(RedisTestCase):
    async def test_is_killed_here(self):
        await self.redis.set("cart:7", "3 items")
        await self.redis.hset("session:7", mapping={"user": "7"})
        open(os.environ["MARKER"], "w").write(str(self.redis_kit.db))
        time.sleep(600)  # SIGKILLed by the outer test


class TestNext(RedisTestCase):
    async def test_starts_empty(self):
        assert await self.redis.dbsize() == 0
        await self.redis.set("cart:8", "1 item")
        open(os.environ["MARKER"], "w").write(str(self.redis_kit.db))
"""


async def _dump(endpoint: Endpoint, db: int) -> dict[bytes, bytes]:
    client = aioredis.Redis(host=endpoint.host, port=endpoint.port, password=endpoint.password, db=db)
    try:
        return {key: await client.dump(key) async for key in client.scan_iter()}
    finally:
        await client.aclose()


async def _set(endpoint: Endpoint, db: int, key: str, value: bytes) -> None:
    client = aioredis.Redis(host=endpoint.host, port=endpoint.port, password=endpoint.password, db=db)
    await client.set(key, value)
    await client.aclose()


async def _flush(endpoint: Endpoint, *dbs: int) -> None:
    for db in dbs:
        client = aioredis.Redis(host=endpoint.host, port=endpoint.port, password=endpoint.password, db=db)
        await client.flushdb()
        await client.aclose()


def test_the_next_run_empties_the_database_of_a_run_killed_during_a_test(
    ik_redis: Endpoint, tmp_path: Path, inner_external_runs: Any
) -> None:
    runs = inner_external_runs(INNER, {"redis": ik_redis}, {"INTEGRATION_KIT_REDIS_DATABASES": str(KIT_DB)})
    asyncio.run(_flush(ik_redis, KIT_DB, NEIGHBOUR_DB))
    asyncio.run(_set(ik_redis, NEIGHBOUR_DB, "team:key", b"\x00\xff theirs"))
    theirs = asyncio.run(_dump(ik_redis, NEIGHBOUR_DB))
    try:
        killed = runs.spawn("TestKilled", tmp_path / "killed.txt")
        assert runs.wait_for(tmp_path / "killed.txt", killed) == str(KIT_DB)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        left = asyncio.run(_dump(ik_redis, KIT_DB))
        assert set(left) == {b"cart:7", b"session:7"}  # no owner key: the test was running

        following = runs.spawn("TestNext", tmp_path / "next.txt")
        output, _ = following.communicate(timeout=300)
        assert following.returncode == 0, output
        assert (tmp_path / "next.txt").read_text() == str(KIT_DB)
        assert asyncio.run(_dump(ik_redis, KIT_DB)) == {}  # the dead run's keys and the next run's
        assert asyncio.run(_dump(ik_redis, NEIGHBOUR_DB)) == theirs
        assert OWNER_KEY.encode() not in asyncio.run(_dump(ik_redis, KIT_DB))
    finally:
        asyncio.run(_flush(ik_redis, KIT_DB, NEIGHBOUR_DB))
