"""``transaction`` isolation: code under test on the test's connection is rolled back."""

from __future__ import annotations

import pytest
import pytest_asyncio

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres import IsolatedDatabase, verify

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tx_db(admin_dsn, migrations_dir):
    async with IsolatedDatabase(
        admin_dsn, name="pgt_transaction", migrations=migrations_dir, isolation="transaction"
    ) as db:
        yield db


async def _app_work(conn) -> None:
    """What an app handed the test's connection does: its own (nested) transactions."""
    async with conn.transaction():
        await conn.execute("insert into customers (email, name) values ('tx@example.com', 'Tx')")
        await conn.execute("update products set price_cents = 1 where id = 1")
        await conn.execute("delete from order_items where order_id = 3")
        await conn.execute("delete from orders where id = 3")
        await conn.execute("select nextval('orders_id_seq')")


async def test_rollback_restores_every_table(tx_db, db_state):
    db = tx_db
    await db.begin_test()
    baseline_tables = await verify.table_checksums(await db.connection())
    assert baseline_tables == db.snapshot.checksums
    seq_before = await verify.sequence_values(await db.connection())
    for _ in range(3):
        conn = await db.connection()
        await _app_work(conn)
        assert await verify.table_checksums(conn) != baseline_tables
        await db.end_test()
        await db.begin_test()
        tables, sequences = await db_state(db.dsn)  # a fresh connection sees the snapshot
        assert tables == baseline_tables
        assert await verify.table_checksums(await db.connection()) == baseline_tables
    # sequences are set back in the rollback's round trip
    assert sequences["orders_id_seq"] == seq_before["orders_id_seq"]
    assert db.strategy.restores_sequences
    await db.end_test()


async def test_a_test_that_commits_itself_gets_a_recreated_database(tx_db, db_state, caplog):
    db = tx_db
    await db.begin_test()
    conn = await db.connection()
    await conn.execute("commit")  # escapes the kit's transaction
    await conn.execute("delete from audit_log")
    await db.end_test()
    assert "ended the kit's transaction" in caplog.text
    await db.begin_test()
    assert (await db_state(db.dsn))[0] == db.snapshot.checksums
    await db.end_test()


async def test_named_snapshots_are_savepoints(tx_db):
    db = tx_db
    await db.begin_test()
    conn = await db.connection()
    await conn.execute("delete from audit_log")
    await db.snapshot_as("emptied")
    emptied = await verify.table_checksums(conn)
    await conn.execute("delete from order_items")
    await db.restore("emptied")
    assert await verify.table_checksums(await db.connection()) == emptied
    await conn.execute("delete from order_items")
    await db.restore("emptied")  # again: the savepoint survives a restore
    assert await verify.table_checksums(await db.connection()) == emptied
    await db.restore()
    assert await verify.table_checksums(await db.connection()) == db.snapshot.checksums
    with raises_code(ErrorCode.PG_UNKNOWN_SNAPSHOT) as caught:
        await db.restore("emptied")  # gone with the restore to the class snapshot
    assert caught[0].context["name"] == "emptied"
    await db.end_test()
