"""RedisFactory against a real Redis: hostile keys and values round-trip exactly, with TTLs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import factory
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_kit import seeding
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.redis import RedisKit
from integration_kit.redis.client import open_client
from integration_kit.seeding import RedisFactory
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

hostile = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


class ProfileFactory(RedisFactory):
    class Meta:
        key = "profile:{name}"  # the name may hold glob characters, spaces, braces' text...
        type = "hash"
        ttl = 120

    name = "x"
    bio = "y"


class ScoresFactory(RedisFactory):
    class Meta:
        key = staticmethod(lambda record: f"scores:{record['board']}")
        type = "zset"
        value = "scores"

    board = "b"
    scores = factory.LazyFunction(dict)


async def _roundtrip(endpoint: Endpoint, name: str, bio: str, scores: dict[str, float]) -> dict[str, Any]:
    client = await open_client(endpoint, db=0)
    kit = RedisKit(client, isolation="prefix", prefix=f"ik:seedredis:{uuid.uuid4().hex[:8]}:")
    try:
        with seeding.use(redis=kit):
            (entry,) = await ProfileFactory.create_batch(1, name=name, bio=bio)
            await ScoresFactory.create(board=name, scores=scores)
        return {
            "key": entry.key,
            "expected_key": kit.key(f"profile:{name}"),
            "hash": await client.hgetall(entry.key),
            "ttl": await client.pttl(entry.key),
            "zset": await client.zrange(kit.key(f"scores:{name}"), 0, -1, withscores=True),
            "keys": len(await client.keys(kit.prefix.replace("*", r"\*") + "*")),
        }
    finally:
        await kit.reset()
        await kit.aclose()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile, hostile, st.dictionaries(hostile, st.integers(-(10**6), 10**6), min_size=1, max_size=4))
def test_hostile_keys_and_values_round_trip(ik_redis: Endpoint, name: str, bio: str, scores: dict) -> None:
    seen = asyncio.run(_roundtrip(ik_redis, name, bio, scores))
    assert seen["key"] == seen["expected_key"]
    assert seen["hash"] == {b"name": name.encode(), b"bio": bio.encode()}
    assert 110_000 < seen["ttl"] <= 120_000
    assert sorted(seen["zset"]) == sorted((m.encode(), float(s)) for m, s in scores.items())
    assert seen["keys"] == 2


async def test_invalid_records_write_nothing(redis: RedisKit) -> None:
    with seeding.use(redis=redis), raises_code(ErrorCode.SEED_INVALID) as caught:
        await ProfileFactory.create_batch(3, bio=factory.Iterator(["ok", None, "ok"]))
    assert caught[0].context["field"] == "bio"
    assert await redis.client.keys(redis.prefix + "*") == []
