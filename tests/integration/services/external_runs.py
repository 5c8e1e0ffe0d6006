"""Interrupted runs on the external backend: servers that somebody else runs (here started
by the harness, filled with nothing of the kit's), an inner suite whose classes create what
the kit creates there (a class database and its snapshot, a claimed Redis database), and a
signal at start, in a test or in teardown (inside the kit's first database drop).

What counts as left: ``ik_`` databases on the server and keys in any Redis database once the
interrupted run has ended (the kit creates no container, process or directory there beyond
its own runtime directory, which is counted as for the other backends).
Used by ``test_interruptions.py`` and ``benchmarks/interruptions.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis
from inner_runs import InnerRun, Interruption, Leftovers, _fast_tmp, interrupt

from integration_kit.config import load_settings
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.base import Endpoint, PostgresService, RedisService
from integration_kit.services.serve import environment

EXTERNAL_SUITE = r"""
import asyncio, os, pathlib

from integration_kit import PostgresTestCase, RedisTestCase


async def create_orders(dsn):
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create table orders (id int primary key, sku text)")
    finally:
        await conn.close()


class TestStores(PostgresTestCase, RedisTestCase):
    postgres_migrations = [create_orders]

    async def test_writes(self):
        await self.postgres.execute("insert into orders values (1, 'ABC')")
        await self.redis.set("cart:1", "3 items")
        if os.environ.get("IK_PHASE") == "test":
            pathlib.Path(os.environ["IK_MARKER"] + ".test").write_text(str(os.getpid()))
            await asyncio.sleep(120)
"""

#: The inner conftest's extra hooks for the external backend (appended to its own).
EXTERNAL_HOOKS = r"""
if PHASE == "start":
    from integration_kit.services.backends.external import ExternalBackend

    _original_external_start = ExternalBackend.start

    def _external_start(self, spec, *, timeout):
        running = _original_external_start(self, spec, timeout=timeout)
        _mark("start")
        time.sleep(HOLD_S)
        return running

    ExternalBackend.start = _external_start

if PHASE == "teardown":
    from integration_kit.postgres.janitor import Janitor

    _original_drop = Janitor.drop

    async def _held_drop(self, name):
        _mark("teardown")
        import asyncio
        await asyncio.sleep(HOLD_S)
        return await _original_drop(self, name)

    Janitor.drop = _held_drop
"""


@dataclass(frozen=True)
class ExternalServers:
    postgres: Endpoint
    redis: Endpoint

    def env(self) -> dict[str, str]:
        return environment({"postgres": self.postgres, "redis": self.redis})

    def leftovers(self) -> Leftovers:
        """``ik_`` databases and Redis keys (any database) now on the servers."""
        found = Leftovers()
        databases, keys = asyncio.run(self._contents())
        found.databases = len(databases)
        found.detail.extend(f"database {name}" for name in databases)
        found.keys = len(keys)
        found.detail.extend(f"redis key {key}" for key in keys[:10])
        return found

    async def _contents(self) -> tuple[list[str], list[str]]:
        conn = await asyncpg.connect(self.postgres.dsn, timeout=10)
        try:
            rows = await conn.fetch("select datname from pg_database where datname like 'ik\\_%'")
        finally:
            await conn.close()
        keys = []
        for db in range(16):
            client = aioredis.Redis(host=self.redis.host, port=self.redis.port, db=db)
            try:
                keys += [f"{db}/{key.decode()}" async for key in client.scan_iter()]
            finally:
                await client.aclose()
        return sorted(row[0] for row in rows), keys

    def clean(self) -> None:
        """Remove what a trial left (after it was counted), for the next trial."""

        async def clean() -> None:
            conn = await asyncpg.connect(self.postgres.dsn, timeout=10)
            try:
                for row in await conn.fetch("select datname from pg_database where datname like 'ik\\_%'"):
                    await conn.execute(f'drop database if exists "{row[0]}" with (force)')
            finally:
                await conn.close()
            client = aioredis.Redis(host=self.redis.host, port=self.redis.port)
            try:
                await client.flushall()
            finally:
                await client.aclose()

        asyncio.run(clean())


@contextlib.contextmanager
def external_servers() -> Iterator[ExternalServers]:
    """PostgreSQL and Redis from the local backend, in a runtime directory of their own:
    the "somebody else's servers" the external backend is pointed at."""
    runtime = _fast_tmp() / f"ik-ext-servers-{uuid.uuid4().hex[:8]}"
    backend = LocalBackend(load_settings(backend="local", runtime_dir=runtime, start_timeout=120))
    started = []
    try:
        for spec in (PostgresService(name="ext-postgres"), RedisService(name="ext-redis")):
            started.append(backend.start(spec, timeout=120))
        yield ExternalServers(started[0].endpoint, started[1].endpoint)
    finally:
        for service in started:
            service.stop()
        backend.close()
        backend.wait_background()
        shutil.rmtree(runtime, ignore_errors=True)


def interrupt_external_run(servers: ExternalServers, signum: int, phase: str, workers: int) -> Interruption:
    """Run the external suite against ``servers``, send ``signum`` in ``phase``, count what
    the run left on the servers and in its directories; clean up."""
    run = InnerRun.create(
        "external",
        workers,
        {"test_interrupted.py": EXTERNAL_SUITE},
        {"IK_PHASE": phase, **servers.env()},
        conftest_extra=EXTERNAL_HOOKS,
    )
    try:
        outcome = interrupt(run, signum, phase)
        on_servers = servers.leftovers()
        outcome.leftovers.databases += on_servers.databases
        outcome.leftovers.keys += on_servers.keys
        outcome.leftovers.detail += on_servers.detail
    finally:
        run.clean_up()
        servers.clean()
    return outcome
