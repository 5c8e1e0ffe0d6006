"""``RedisKit.url`` / ``.db``: what to hand the app under test so it sees the test's data."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from integration_kit import RedisTestCase
from integration_kit.services.namespace import Namespace

pytestmark = pytest.mark.integration


class TestUrlAndDb(RedisTestCase):
    async def test_the_url_reaches_the_tests_database(self) -> None:
        assert self.redis_kit.db == Namespace.current().redis_db
        assert self.redis_kit.url.endswith(f"/{self.redis_kit.db}")
        app = aioredis.Redis.from_url(self.redis_kit.url)
        try:
            await app.set("from-the-app", "1")
            assert await self.redis.get("from-the-app") == b"1"
        finally:
            await app.aclose()


class TestPrefixMode(RedisTestCase):
    redis_isolation = "prefix"

    async def test_prefix_mode_keeps_the_endpoints_database(self) -> None:
        assert self.redis_kit.prefix and self.redis_kit.url.endswith(f"/{self.redis_kit.db}")
