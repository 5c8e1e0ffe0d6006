"""A ServiceTestCase mixing PostgreSQL, Redis and the app under test (a ProcessService)."""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from pathlib import Path
from typing import ClassVar

import pytest

from integration_kit.services.base import Endpoint, PostgresService, RedisService, ServiceSpec
from integration_kit.services.process import HttpHealth, ProcessService, RunningProcess
from integration_kit.testcase import ClassContext, ServiceTestCase

APP = str(Path(__file__).parent / "apps" / "http_app.py")


@pytest.mark.integration  # a process of its own would make it e2e; the kit's layer test says otherwise
class TestMixedServices(ServiceTestCase):
    services: ClassVar[list[ServiceSpec]] = [
        PostgresService(),
        RedisService(),
        ProcessService(
            name="app",
            command=[sys.executable, APP, "{port}"],
            env={"REDIS_URL": "{redis.url}", "DATABASE_URL": "{postgres.dsn}"},
            health=HttpHealth("/health"),
        ),
    ]
    postgres: Endpoint
    redis: Endpoint
    app: RunningProcess

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        import asyncpg

        conn = await asyncpg.connect(ctx.endpoint("postgres").dsn)
        ctx.exit_stack.push_async_callback(conn.close)
        ctx.state["conn"] = conn
        ctx.state["loop"] = asyncio.get_running_loop()
        ctx.state["setups"] = 0

    async def ik_setup(self, ctx: ClassContext) -> None:
        await super().ik_setup(ctx)
        ctx.state["setups"] += 1
        self.conn = ctx.state["conn"]
        self.ctx = ctx

    async def test_handles_are_attributes(self) -> None:
        assert isinstance(self.postgres, Endpoint) and isinstance(self.redis, Endpoint)
        assert await self.conn.fetchval("select 6 * 7") == 42
        assert self.app.url.startswith("http://127.0.0.1:")

    async def test_app_got_the_dependency_urls(self) -> None:
        def get(path: str) -> str:
            with urllib.request.urlopen(self.app.url + path, timeout=5) as response:
                return response.read().decode()

        assert await asyncio.to_thread(get, "/env/DATABASE_URL") == self.postgres.dsn
        assert await asyncio.to_thread(get, "/redis") == "True"

    async def test_runs_in_the_class_setup_loop(self) -> None:
        # The connection made in ik_setup_class is usable: same (session) event loop.
        assert asyncio.get_running_loop() is self.ctx.state["loop"]
        assert self.ctx.state["setups"] >= 1

    def test_sync_tests_work_too(self) -> None:
        assert self.redis.port > 0


def test_an_explicit_category_marker_wins(request: pytest.FixtureRequest) -> None:
    items = [item for item in request.session.items if getattr(item, "cls", None) is TestMixedServices]
    assert items and all(item.get_closest_marker("integration") for item in items)
    assert not any(item.get_closest_marker("e2e") for item in items)
