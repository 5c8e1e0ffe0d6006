"""RedisTestCase run by the plugin: in this session, and in inner sessions under xdist."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
import redis.asyncio as aioredis

from integration_kit.redis import RedisKit, RedisTestCase
from integration_kit.services.base import Endpoint
from integration_kit.services.namespace import Namespace

pytestmark = pytest.mark.integration


class TestEmptyBeforeEachTest(RedisTestCase):
    """Both tests find an empty database whatever order they run in."""

    async def _check_and_dirty(self) -> None:
        assert isinstance(self.redis, aioredis.Redis)
        assert self.redis.connection_pool.connection_kwargs["db"] == Namespace.current().redis_db
        assert await self.redis.dbsize() == 0
        await self.redis.set("left:behind", "x", ex=600)
        await self.redis.hset("also:left", "f", "v")

    async def test_one(self) -> None:
        await self._check_and_dirty()

    async def test_two(self) -> None:
        await self._check_and_dirty()


async def _seed_catalog(kit: RedisKit) -> None:
    await kit.client.set("sku:A1", "widget", ex=600)
    await kit.client.hset("stock", mapping={"A1": "5"})
    await kit.client.set("config", "v1")


class TestSeededRestoredBeforeEachTest(RedisTestCase):
    redis_seed: ClassVar = [_seed_catalog]

    async def _check_and_dirty(self) -> None:
        await self.redis_kit.assert_ttl("sku:A1", between=(590, 600))
        assert await self.redis.ttl("config") == -1
        assert await self.redis.hget("stock", "A1") == b"5"
        await self.redis_kit.assert_no_key("cart:1")
        assert await self.redis.dbsize() == 3
        await self.redis.hincrby("stock", "A1", -5)
        await self.redis.persist("sku:A1")
        await self.redis.delete("config")
        await self.redis.set("cart:1", "x")

    async def test_one(self) -> None:
        await self._check_and_dirty()

    async def test_two(self) -> None:
        await self._check_and_dirty()


INNER = """
import json, os
from pathlib import Path
from typing import ClassVar

from integration_kit.redis import RedisTestCase
from integration_kit.services.namespace import Namespace

OUT = Path({out!r})


async def seed(kit):
    await kit.client.set("seeded", Namespace.current().worker, ex=600)


class Base(RedisTestCase):
    redis_seed: ClassVar = [seed]

    async def _record(self, name):
        assert await self.redis.get("seeded") == Namespace.current().worker.encode()
        assert await self.redis.dbsize() == 1
        await self.redis.set("mine", name)
        db = self.redis.connection_pool.connection_kwargs["db"]
        (OUT / f"{{name}}.json").write_text(json.dumps([Namespace.current().worker, db]))


class TestA(Base):
{tests_a}

class TestB(Base):
{tests_b}
"""


@pytest.mark.slow
def test_workers_get_databases_of_their_own(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ik_redis: Endpoint
) -> None:
    monkeypatch.setenv("INTEGRATION_KIT_REDIS_URL", f"redis://{ik_redis.host}:{ik_redis.port}/0")
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", "external")
    pytester.makeini("[pytest]\nasyncio_mode = auto\n")
    out = pytester.mkdir("out")

    def tests(cls: str) -> str:
        return "\n".join(
            f"    async def test_{i}(self):\n        await self._record('{cls}{i}')\n" for i in range(4)
        )

    pytester.makepyfile(test_inner=INNER.format(out=str(out), tests_a=tests("a"), tests_b=tests("b")))
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--dist", "loadscope")
    result.assert_outcomes(passed=8)
    seen = {tuple(json.loads(path.read_text())) for path in out.glob("*.json")}
    assert len(list(out.glob("*.json"))) == 8
    for worker, db in seen:
        assert worker in ("gw0", "gw1")
        assert db == Namespace(worker).redis_db
    assert len({db for _, db in seen}) == len({worker for worker, _ in seen})
