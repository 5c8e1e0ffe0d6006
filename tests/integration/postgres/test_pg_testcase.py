"""``PostgresTestCase`` run by the plugin: every test starts from migrations + seed."""

from __future__ import annotations

from typing import ClassVar

import asyncpg

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres.testcase import PostgresTestCase


async def seed_vip(conn: asyncpg.Connection) -> None:
    await conn.execute("insert into customers (email, name) values ('vip@example.com', 'VIP')")


class _Shared:
    """The same two tests under every strategy; each would see the other's writes without a restore."""

    postgres_migrations = "migrations"
    postgres_seed = (seed_vip,)

    async def _app_writes(self) -> None:
        if self.postgres.isolation == "transaction":
            conn = self.postgres.connection  # the app uses the test's connection
            async with conn.transaction():
                await self._writes(conn)
        else:
            app = await asyncpg.connect(self.postgres.dsn)  # the app's own connection
            try:
                await self._writes(app)
            finally:
                await app.close()

    @staticmethod
    async def _writes(conn: asyncpg.Connection) -> None:
        await conn.execute("insert into customers (email, name) values ('new@example.com', 'New')")
        await conn.execute("update products set price_cents = 0")
        await conn.execute("delete from order_items")

    async def test_first(self) -> None:
        await self.postgres.assert_unchanged()
        assert await self.postgres.fetchval("select count(*) from customers") == 21
        await self._app_writes()
        assert (await self.postgres.table_counts())["order_items"] == 0

    async def test_second(self) -> None:
        await self.postgres.assert_unchanged()
        row = await self.postgres.fetchrow("select name from customers where email = $1", "vip@example.com")
        assert row["name"] == "VIP"
        await self._app_writes()
        diff = await self.postgres.diff()
        assert len(diff.tables["products"].changed) == 10


class TestSwap(_Shared, PostgresTestCase):
    postgres_isolation = "swap"


class TestTemplate(_Shared, PostgresTestCase):
    postgres_isolation = "template"


class TestTruncate(_Shared, PostgresTestCase):
    postgres_isolation = "truncate"


class TestTransaction(_Shared, PostgresTestCase):
    postgres_isolation = "transaction"

    async def test_unknown_snapshot(self) -> None:
        with raises_code(ErrorCode.PG_UNKNOWN_SNAPSHOT):
            await self.postgres.restore("never-taken")


class TestPooledAppAcrossRestores(PostgresTestCase):
    """The docs' recipe: an app's SQLAlchemy engine registered with ``self.postgres.on_restore``."""

    postgres_migrations = "migrations"
    postgres_isolation = "swap"
    engines: ClassVar[list] = []

    def _engine(self):
        from sqlalchemy.ext.asyncio import create_async_engine

        if not self.engines:
            url = self.postgres.dsn.replace("postgresql://", "postgresql+asyncpg://")
            self.engines.append(create_async_engine(url, pool_size=2))
            self.postgres.on_restore(self.engines[0])
        return self.engines[0]

    async def _app_writes_and_reads(self) -> int:
        from sqlalchemy import text

        async with self._engine().begin() as conn:
            before = (await conn.execute(text("select count(*) from customers"))).scalar()
            await conn.execute(text("insert into customers (email, name) values ('p@example.com', 'P')"))
        return before

    async def test_first(self) -> None:
        assert await self._app_writes_and_reads() == 20

    async def test_second(self) -> None:
        assert await self._app_writes_and_reads() == 20

    async def test_third_and_dispose(self) -> None:
        assert await self._app_writes_and_reads() == 20
        await self.engines.pop().dispose()
