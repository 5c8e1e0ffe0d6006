"""``RedisTestCase``: a worker-isolated Redis for each test, reset or restored from a seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar

import redis.asyncio as aioredis

from integration_kit.errors import ErrorCode, UsageError
from integration_kit.redis.kit import RedisKit
from integration_kit.redis.state import ISOLATIONS
from integration_kit.seeding import hooks
from integration_kit.services.base import RedisService, ServiceSpec
from integration_kit.testcase import ClassContext, ServiceTestCase

RedisSeed = Callable[[RedisKit], Awaitable[None] | None]
_STATE_KEY = "integration_kit.redis"


class RedisTestCase(ServiceTestCase):
    """Tests with ``self.redis`` (a ``redis.asyncio.Redis``) and ``self.redis_kit`` (a :class:`RedisKit`).

    - ``redis_isolation = "db"`` (default): the worker's own database index, emptied with
      ``FLUSHDB ASYNC`` before each test. ``"prefix"``: the worker's key prefix
      (``self.redis_kit.key("name")``), for servers with a single database.
    - ``redis_seed = [scenario_or_fn, ...]``: scenarios (``integration_kit.seeding``) or
      callables taking the :class:`RedisKit` (sync or async) that write keys once per
      class; the keys and their TTLs (with those of the class's ``postgres_seed``
      scenarios) are snapshotted and restored before each test in one round trip.
    """

    ik_requires: ClassVar[Sequence[ServiceSpec]] = (RedisService(),)
    redis_seed: ClassVar[Sequence[RedisSeed]] = ()
    redis_isolation: ClassVar[str] = "db"

    redis: aioredis.Redis
    redis_kit: RedisKit

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.redis_isolation not in ISOLATIONS:
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute="redis_isolation",
                value=cls.redis_isolation,
                owner=cls.__name__,
                expected=" or ".join(repr(i) for i in ISOLATIONS),
            )
        hooks.check_seed_list(cls, "redis_seed", cls.redis_seed)

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        kit = await self._ik_redis_store(ctx)
        await hooks.store_ready(self, ctx, "redis", kit)  # seeds run, then the snapshot

    async def _ik_redis_store(self, ctx: ClassContext) -> RedisKit:
        """The class's RedisKit, opened (and emptied, if the class seeds) once."""
        kit: RedisKit | None = ctx.state.get(_STATE_KEY)
        if kit is not None:
            return kit
        kit = await RedisKit.open(
            ctx.endpoint("redis"), namespace=ctx.namespace, isolation=self.redis_isolation
        )
        ctx.exit_stack.push_async_callback(kit.aclose)
        ctx.state[_STATE_KEY] = kit
        if self.redis_isolation == "db":
            # The app under test (a ProcessService of this class) uses the class's database.
            endpoint = ctx.endpoint("redis")
            ctx.process_endpoints["redis"] = dataclasses.replace(
                endpoint, database=str(ctx.namespace.redis_db)
            )
        if self.redis_seed or hooks.uses_scenarios(self):
            await kit.reset()
        return kit

    async def ik_setup(self, ctx: ClassContext) -> None:
        await super().ik_setup(ctx)
        kit: RedisKit = ctx.state[_STATE_KEY]
        await kit.restore()  # the seed snapshot, or a plain reset without one
        self.redis_kit = kit
        self.redis = kit.client
        await hooks.attach(ctx, "redis", kit)
