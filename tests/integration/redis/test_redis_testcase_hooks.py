"""RedisTestCase driven through the hook protocol, as the plugin drives it, on a real Redis."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import redis.asyncio as aioredis
from redis_layer_helpers import layer_namespace

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.redis import RedisKit, RedisTestCase
from integration_kit.services.base import Endpoint, RedisService, ServiceSpec
from integration_kit.testcase import ClassContext, service_specs

pytestmark = pytest.mark.integration


class _Session:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        assert spec.kind == "redis"
        return self._endpoint


async def _run(cls: type[RedisTestCase], endpoint: Endpoint, *tests: str) -> list[Any]:
    """Run ``tests`` of ``cls`` like the plugin: class setup once, then setup/test/teardown."""
    ctx = ClassContext(services=_Session(endpoint), namespace=layer_namespace(), owner=cls)
    results: list[Any] = []
    async with ctx.exit_stack:
        await cls().ik_setup_class(ctx)
        for name in tests:
            case = cls()
            await case.ik_setup(ctx)
            try:
                results.append(await getattr(case, name)())
            finally:
                await case.ik_teardown(ctx)
    return results


def test_requires_redis() -> None:
    assert RedisService() in service_specs(RedisTestCase)


async def test_each_test_starts_from_an_empty_database(endpoint: Endpoint) -> None:
    class TestCounter(RedisTestCase):
        async def test_write(self) -> int:
            assert isinstance(self.redis, aioredis.Redis)
            assert self.redis.connection_pool.connection_kwargs["db"] == layer_namespace().redis_db
            await self.redis.set("leftover", "x", ex=60)
            return int(await self.redis.dbsize())

    assert await _run(TestCounter, endpoint, "test_write", "test_write") == [1, 1]


async def test_seeded_keys_come_back_with_their_ttls(endpoint: Endpoint) -> None:
    calls: list[str] = []

    async def catalog(kit: RedisKit) -> None:
        calls.append("catalog")
        await kit.client.set(kit.key("sku:A1"), "widget", ex=600)
        await kit.client.hset(kit.key("stock"), mapping={"A1": "5"})

    def flags(kit: RedisKit) -> Any:  # sync seeds work too
        calls.append("flags")
        return kit.client.set(kit.key("flag:new-checkout"), "on")

    class TestSeeded(RedisTestCase):
        redis_seed: ClassVar = [catalog, flags]

        async def test_mutate(self) -> dict[str, Any]:
            state = await self._observe()
            await self.redis.delete("sku:A1")
            await self.redis.hset("stock", "A1", "0")
            await self.redis.set("cart:1", "x")
            return state

        async def _observe(self) -> dict[str, Any]:
            await self.redis_kit.assert_ttl("sku:A1", between=(590, 600))
            await self.redis_kit.assert_no_key("cart:1")
            return {
                "sku": await self.redis.get("sku:A1"),
                "stock": await self.redis.hgetall("stock"),
                "flag_ttl": await self.redis.ttl("flag:new-checkout"),
                "size": await self.redis.dbsize(),
            }

    first, second = await _run(TestSeeded, endpoint, "test_mutate", "test_mutate")
    assert first == second == {"sku": b"widget", "stock": {b"A1": b"5"}, "flag_ttl": -1, "size": 3}
    assert calls == ["catalog", "flags"]  # once per class


async def test_prefix_isolation(endpoint: Endpoint) -> None:
    outsider = aioredis.Redis(host=endpoint.host, port=endpoint.port, db=int(endpoint.database or 0))
    await outsider.set("ik-test-outsider", "kept")

    async def seed(kit: RedisKit) -> None:
        await kit.client.set(kit.key("seeded"), "1", px=300_000)

    class TestPrefixed(RedisTestCase):
        redis_isolation = "prefix"
        redis_seed: ClassVar = [seed]

        async def test_keys(self) -> list[bytes]:
            keys = sorted(await self.redis.keys(self.redis_kit.key("*")))
            await self.redis.set(self.redis_kit.key("written"), "x")
            return keys

    try:
        results = await _run(TestPrefixed, endpoint, "test_keys", "test_keys")
        prefix = layer_namespace().key_prefix
        assert results == [[f"{prefix}seeded".encode()]] * 2
        assert await outsider.get("ik-test-outsider") == b"kept"
    finally:
        keys = await outsider.keys(layer_namespace().key_prefix + "*")
        await outsider.delete("ik-test-outsider", *keys)
        await outsider.aclose()


def test_bad_declarations_fail_at_class_definition() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:

        class TestBadIsolation(RedisTestCase):
            redis_isolation = "cluster"

    assert caught[0].context["attribute"] == "redis_isolation"
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:

        class TestBadSeed(RedisTestCase):
            redis_seed: ClassVar = ["not callable"]

    assert caught[0].context["attribute"] == "redis_seed"
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):

        class TestSeedNotAList(RedisTestCase):
            redis_seed: ClassVar = print
