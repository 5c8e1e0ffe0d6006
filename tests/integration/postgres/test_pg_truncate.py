"""``truncate`` is exact or rebuilds: the cases that used to pass silently or poison a class."""

from __future__ import annotations

import asyncpg
import pytest
import pytest_asyncio

from integration_kit.postgres import IsolatedDatabase, verify

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def trunc_db(admin_dsn, migrations_dir):
    async with IsolatedDatabase(
        admin_dsn, name="pgt_truncate", migrations=migrations_dir, isolation="truncate"
    ) as db:
        yield db


async def _app(db: IsolatedDatabase, *statements: str) -> None:
    conn = await asyncpg.connect(db.dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_setval_not_called_is_seen_and_restored(trunc_db):
    db = trunc_db
    await db.begin_test()
    before = await verify.sequence_states(await db.connection())
    await _app(db, "select setval('orders_id_seq', 500, false)")
    result = await db.diff()
    assert result.sequences == {"orders_id_seq": (before["orders_id_seq"], verify.SequenceState(500, False))}
    assert "500 (not called)" in str(result)
    await db.end_test()
    await db.begin_test()
    assert await verify.sequence_states(await db.connection()) == before
    assert not await db.diff()
    assert db.strategy.rebuilds == 0  # restored in place
    await db.end_test()


@pytest.mark.parametrize(
    "ddl, changed",
    [
        ("drop table audit_log", "relation public.audit_log"),
        ("alter table customers add column nickname text", "relation public.customers"),
        ("comment on table products is 'new'", "comment on table public.products"),
        ("create table created_by_test (id int)", "relation public.created_by_test"),
    ],
)
async def test_schema_changes_rebuild_and_the_class_recovers(trunc_db, caplog, ddl, changed):
    db = trunc_db
    await db.begin_test()
    await _app(db, ddl, "delete from order_items")
    result = await db.diff()
    assert changed in result.schema, result.schema
    await db.end_test()
    rebuilds = db.strategy.rebuilds
    await db.begin_test()  # no UndefinedTableError / BadCopyFileFormatError: a rebuild
    assert db.strategy.rebuilds == rebuilds + 1
    assert "rebuilding it from the snapshot" in caplog.text and changed in caplog.text
    assert not await db.diff()
    await db.end_test()
    for _ in range(2):  # later tests of the class restore in place again
        await db.begin_test()
        await _app(db, "delete from order_items")
        await db.end_test()
        await db.begin_test()
        assert (await db.diff()).tables == {}
        await db.end_test()
    assert db.strategy.rebuilds == rebuilds + 1
