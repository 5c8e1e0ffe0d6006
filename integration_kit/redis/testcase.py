"""``RedisTestCase``: a worker-isolated Redis for each test, reset or restored from a seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar

import redis.asyncio as aioredis

from integration_kit.declarations import Option, callables, declared, one_of, state_key
from integration_kit.redis.kit import RedisKit
from integration_kit.redis.ownership import reap_dead_databases
from integration_kit.redis.state import ISOLATIONS
from integration_kit.seeding import hooks
from integration_kit.services.base import RedisService, ServiceSpec
from integration_kit.services.registry import OwnershipRegistry
from integration_kit.testcase import ClassContext, ServiceTestCase

RedisSeed = Callable[[RedisKit], Awaitable[None] | None]
_STATE_KEY = state_key("redis")


class RedisTestCase(ServiceTestCase):
    """Tests with ``self.redis`` (a ``redis.asyncio.Redis``) and ``self.redis_kit`` (a :class:`RedisKit`).

    - ``redis_isolation = "db"`` (default): the worker's own database index, emptied with
      ``FLUSHDB ASYNC`` before each test. ``"prefix"``: the worker's key prefix
      (``self.redis_kit.key("name")``), for servers with a single database.
    - The kit only empties what it owns: at class setup the scope must be empty or carry
      the kit's owner key (``IK-REDIS-DB-FOREIGN`` otherwise, nothing deleted); the
      class's keys are removed when the class ends.
    - ``redis_seed = [scenario_or_fn, ...]``: scenarios (``integration_kit.seeding``) or
      callables taking the :class:`RedisKit` (sync or async) that write keys once per
      class; the keys and their TTLs (with those of the class's ``postgres_seed``
      scenarios) are snapshotted and restored before each test in one round trip.
    """

    ik_requires: ClassVar[Sequence[ServiceSpec]] = (RedisService(),)
    ik_options: ClassVar = (
        Option("redis_seed", (), callables),
        Option("redis_isolation", "db", one_of(*ISOLATIONS)),
    )
    redis_seed: ClassVar[Sequence[RedisSeed]] = ()
    redis_isolation: ClassVar[str] = "db"

    redis: aioredis.Redis
    redis_kit: RedisKit

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        kit = await self._ik_redis_store(ctx)
        await hooks.store_ready(self, ctx, "redis", kit)  # seeds run, then the snapshot

    async def _ik_redis_store(self, ctx: ClassContext) -> RedisKit:
        """The class's RedisKit, opened (and emptied, if the class seeds) once."""
        kit: RedisKit | None = ctx.state.get(_STATE_KEY)
        if kit is not None:
            return kit
        registry = OwnershipRegistry.for_settings(ctx.resolved_settings())
        # databases a killed run of this host left behind, whichever worker used them
        await reap_dead_databases(ctx.endpoint("redis"), ctx.namespace.redis_databases, registry=registry)
        kit = await RedisKit.open(
            ctx.endpoint("redis"),
            namespace=ctx.namespace,
            isolation=declared(type(self), "redis_isolation"),
            registry=registry,
        )
        ctx.exit_stack.push_async_callback(kit.aclose)
        await kit.claim()  # IK-REDIS-DB-FOREIGN on data the kit did not write
        ctx.exit_stack.push_async_callback(kit.release)  # the class's keys go with it
        ctx.state[_STATE_KEY] = kit
        if declared(type(self), "redis_isolation") == "db":
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

    async def ik_teardown(self, ctx: ClassContext) -> None:
        try:
            kit: RedisKit | None = ctx.state.get(_STATE_KEY)
            if kit is not None:
                await kit.mark()
        finally:
            await super().ik_teardown(ctx)
