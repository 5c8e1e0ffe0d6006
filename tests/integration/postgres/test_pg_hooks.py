"""``PostgresTestCase`` driven through the hook protocol, as the plugin drives it."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres.testcase import PostgresTestCase
from integration_kit.services.namespace import Namespace
from integration_kit.testcase import ClassContext

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class _Session:
    """What the plugin's session offers the hooks: endpoints and run-wide state."""

    def __init__(self, endpoint: Any) -> None:
        self._endpoint = endpoint
        self.state: dict[str, Any] = {}

    def endpoint(self, spec: Any) -> Any:
        return self._endpoint


async def _run_class(cls: type, session: _Session, tests: list) -> list[Any]:
    """Run ``tests`` (async callables taking the instance) the way the plugin does."""
    ctx = ClassContext(services=session, namespace=Namespace.current(), owner=cls)
    results = []
    async with ctx.exit_stack:
        await cls().ik_setup_class(ctx)
        for test in tests:
            instance = cls()
            await instance.ik_setup(ctx)
            try:
                results.append(await test(instance))
            finally:
                await instance.ik_teardown(ctx)
    return results


def seed_vip(conn: asyncpg.Connection):  # a sync hook returning an awaitable
    return conn.execute("insert into customers (email, name) values ('vip@example.com', 'VIP')")


async def seed_note(conn: asyncpg.Connection) -> None:
    await conn.execute("select note('seeded by a hook')")


class _Orders(PostgresTestCase):
    postgres_migrations = "migrations"  # relative to this module's directory
    postgres_seed = (seed_vip, seed_note)
    postgres_isolation = "swap"


class _OrdersInTransactions(PostgresTestCase):
    postgres_migrations = "migrations"
    postgres_seed = (seed_vip, seed_note)
    postgres_isolation = "transaction"


async def _mutate_and_report(test: PostgresTestCase) -> tuple[int, str]:
    pg = test.postgres
    before = await pg.fetchval("select count(*) from customers")
    app = await asyncpg.connect(pg.dsn)  # the app under test, on its own connection
    try:
        await app.execute("delete from order_items")
        await app.execute("insert into customers (email, name) values ('x@example.com', 'X')")
    finally:
        await app.close()
    assert await pg.diff()
    return before, pg.database


async def test_each_test_starts_from_migrations_and_seed(ik_postgres):
    session = _Session(ik_postgres)
    try:
        results = await _run_class(_Orders, session, [_mutate_and_report] * 3)
    finally:
        await session.state["integration_kit.postgres"].close()
    assert [count for count, _ in results] == [21, 21, 21]
    assert len({name for _, name in results}) == 1


async def test_handle_api_under_transaction_isolation(ik_postgres):
    session = _Session(ik_postgres)

    async def uses_the_handle(test: PostgresTestCase) -> dict:
        pg = test.postgres
        assert pg.isolation == "transaction" and pg.restores_sequences
        await pg.assert_rows(
            "audit_log", [{"entry": "seeded by 010_data.sql; ok"}, {"entry": "seeded by a hook"}]
        )
        await pg.execute("delete from audit_log")
        await pg.snapshot("empty-audit")
        await pg.execute("delete from order_items")
        await pg.restore("empty-audit")
        counts = await pg.table_counts()
        with raises_code(ErrorCode.PG_UNKNOWN_SNAPSHOT):
            await pg.restore("nope")
        with raises_code(ErrorCode.PG_NOT_UNCHANGED):
            await pg.assert_unchanged()
        return counts

    async def sees_the_snapshot(test: PostgresTestCase) -> dict:
        await test.postgres.assert_unchanged()
        return await test.postgres.table_counts()

    try:
        first, second = await _run_class(_OrdersInTransactions, session, [uses_the_handle, sees_the_snapshot])
    finally:
        await session.state["integration_kit.postgres"].close()
    assert first["audit_log"] == 0 and first["order_items"] == 60
    assert second["audit_log"] == 2


async def test_classes_with_the_same_migrations_share_one_snapshot(ik_postgres):
    session = _Session(ik_postgres)

    async def snapshot_database(test: PostgresTestCase) -> str:
        return test.postgres._db.snapshot.database

    try:
        (a,) = await _run_class(_Orders, session, [snapshot_database])
        (b,) = await _run_class(_OrdersInTransactions, session, [snapshot_database])
    finally:
        await session.state["integration_kit.postgres"].close()
    assert a == b
