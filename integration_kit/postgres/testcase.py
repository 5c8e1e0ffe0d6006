"""``PostgresTestCase``: a per-worker database restored to a snapshot before every test."""

from __future__ import annotations

import atexit
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from integration_kit.errors import ErrorCode, UsageError
from integration_kit.postgres.database import IsolatedDatabase
from integration_kit.postgres.handle import PostgresHandle
from integration_kit.postgres.keyed_snapshots import class_snapshots
from integration_kit.postgres.migrations import MigrationSource, SeedHook
from integration_kit.postgres.snapshot import SnapshotCache
from integration_kit.postgres.strategies import strategy_class
from integration_kit.seeding import hooks
from integration_kit.services.base import PostgresService
from integration_kit.testcase import ClassContext, ServiceTestCase, service_specs

_STATE_KEY = "integration_kit.postgres"
_DEFAULT_CACHE: SnapshotCache | None = None


def snapshot_cache(ctx: ClassContext) -> SnapshotCache:
    """The run's snapshot cache: the session's (``ctx.services.state``) or this process's."""
    state = getattr(ctx.services, "state", None)
    if isinstance(state, dict):
        cache = state.get(_STATE_KEY)
        if cache is None:
            cache = state[_STATE_KEY] = SnapshotCache()
        return cache
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = SnapshotCache()
        atexit.register(_DEFAULT_CACHE.close_sync)
    return _DEFAULT_CACHE


class PostgresTestCase(ServiceTestCase):
    """Tests against a PostgreSQL database of their own, reset to a snapshot before each test.

    Class attributes: ``postgres_migrations`` (directory, ``.sql`` file, callable taking
    a DSN, or a list of these), ``postgres_seed`` (callables taking an asyncpg connection),
    ``postgres_isolation`` (``transaction`` | ``swap`` | ``template`` | ``truncate``),
    ``postgres_options`` (strategy options, e.g. ``{"spares": 3}``). Tests use
    ``self.postgres`` (:class:`~integration_kit.postgres.handle.PostgresHandle`).
    """

    ik_requires = (PostgresService(),)
    postgres_migrations: ClassVar[MigrationSource | None] = None
    postgres_seed: ClassVar[SeedHook | Sequence[SeedHook] | None] = None
    postgres_isolation: ClassVar[str] = "transaction"
    postgres_options: ClassVar[dict[str, Any]] = {}

    postgres: PostgresHandle

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        strategy_class(cls.postgres_isolation)  # IK-PG-UNKNOWN-STRATEGY when the class is defined
        if not isinstance(cls.postgres_options, dict):
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute="postgres_options",
                value=cls.postgres_options,
                owner=cls.__qualname__,
                expected="a dict of strategy options",
            )

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        endpoint = ctx.endpoint("postgres")
        spec = next(s for s in service_specs(type(self)) if s.kind == "postgres")
        name = getattr(spec, "database", None) or "test"
        module_file = getattr(sys.modules.get(type(self).__module__), "__file__", None)
        base_dirs = [Path(module_file).parent] if module_file else []
        cls = type(self)
        seed = cls.postgres_seed
        if seed:
            seed = hooks.postgres_hooks(self, ctx, seed)
        database = IsolatedDatabase(
            endpoint.dsn,
            name=name,
            migrations=cls.postgres_migrations,
            seed=seed,
            isolation=cls.postgres_isolation,
            namespace=ctx.namespace,
            base_dirs=base_dirs,
            cache=class_snapshots(ctx, cls, spec, snapshot_cache(ctx)),
            **cls.postgres_options,
        )
        await database.start()
        ctx.exit_stack.push_async_callback(database.close)
        ctx.state[_STATE_KEY] = database
        # The app under test (a ProcessService of this class) uses the working database.
        ctx.process_endpoints["postgres"] = dataclasses.replace(endpoint, database=database.database)
        await hooks.store_ready(self, ctx, "postgres", database)

    async def ik_setup(self, ctx: ClassContext) -> None:
        await super().ik_setup(ctx)
        database: IsolatedDatabase = ctx.state[_STATE_KEY]
        await database.begin_test()
        self.postgres = PostgresHandle(database, await database.connection())
        await hooks.attach(ctx, "postgres", self.postgres)

    async def ik_teardown(self, ctx: ClassContext) -> None:
        database: IsolatedDatabase | None = ctx.state.get(_STATE_KEY)
        try:
            if database is not None:
                await database.end_test()
        finally:
            await super().ik_teardown(ctx)
