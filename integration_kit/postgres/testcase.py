"""``PostgresTestCase``: a per-worker database restored to a snapshot before every test."""

from __future__ import annotations

import atexit
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from integration_kit.declarations import Invalid, Option, a_dict, declared, state_key
from integration_kit.postgres.database import IsolatedDatabase
from integration_kit.postgres.handle import PostgresHandle
from integration_kit.postgres.migrations import MigrationSource, SeedHook
from integration_kit.postgres.snapshot import SnapshotCache
from integration_kit.postgres.strategies import strategy_class
from integration_kit.seeding import hooks
from integration_kit.services.base import PostgresService
from integration_kit.testcase import ClassContext, ServiceTestCase, service_specs

_STATE_KEY = state_key("postgres")
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


def _isolation(value: object) -> str:
    strategy_class(value)  # type: ignore[arg-type]  # IK-PG-UNKNOWN-STRATEGY, listing the four
    return str(value)


def _seed_hooks(value: object) -> object:
    """``None``, one callable, or a list of callables/scenarios."""
    if value is None or callable(value):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not all(map(callable, value)):
        raise Invalid("a callable taking an asyncpg connection, a scenario, or a list of these")
    return value


def _migrations(value: object) -> object:
    """``None``, a path, a callable taking a DSN, or a list of these."""

    def one(item: object) -> bool:
        return isinstance(item, str | Path) or callable(item)

    if value is None or one(value):
        return value
    if isinstance(value, bytes) or not isinstance(value, Sequence) or not all(map(one, value)):
        raise Invalid("a directory, a .sql file, a callable taking a DSN, or a list of these")
    return value


class PostgresTestCase(ServiceTestCase):
    """Tests against a PostgreSQL database of their own, reset to a snapshot before each test.

    Class attributes: ``postgres_migrations`` (directory, ``.sql`` file, callable taking
    a DSN, or a list of these), ``postgres_seed`` (callables taking an asyncpg connection),
    ``postgres_isolation`` (``transaction`` | ``swap`` | ``template`` | ``truncate``),
    ``postgres_options`` (strategy options, e.g. ``{"spares": 3}``). Tests use
    ``self.postgres`` (:class:`~integration_kit.postgres.handle.PostgresHandle`).
    """

    ik_requires = (PostgresService(),)
    ik_options: ClassVar = (
        Option("postgres_migrations", None, _migrations),
        Option("postgres_seed", None, _seed_hooks),
        Option("postgres_isolation", "transaction", _isolation),
        Option("postgres_options", {}, a_dict("strategy options")),
    )
    postgres_migrations: ClassVar[MigrationSource | None] = None
    postgres_seed: ClassVar[SeedHook | Sequence[SeedHook] | None] = None
    postgres_isolation: ClassVar[str] = "transaction"
    postgres_options: ClassVar[dict[str, Any]] = {}

    postgres: PostgresHandle

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        endpoint = ctx.endpoint("postgres")
        spec = next(s for s in service_specs(type(self)) if s.kind == "postgres")
        name = getattr(spec, "database", None) or "test"
        module_file = getattr(sys.modules.get(type(self).__module__), "__file__", None)
        base_dirs = [Path(module_file).parent] if module_file else []
        cls = type(self)
        seed = declared(cls, "postgres_seed")
        if seed:
            seed = hooks.postgres_hooks(self, ctx, seed)
        database = IsolatedDatabase(
            endpoint.dsn,
            name=name,
            migrations=declared(cls, "postgres_migrations"),
            seed=seed,
            isolation=declared(cls, "postgres_isolation"),
            namespace=ctx.namespace,
            base_dirs=base_dirs,
            cache=snapshot_cache(ctx),
            **declared(cls, "postgres_options"),
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
