"""Every strategy returns the database to the snapshot after an app commits changes."""

from __future__ import annotations

import logging

import asyncpg
import pytest
import pytest_asyncio

from integration_kit.postgres import IsolatedDatabase, verify
from integration_kit.postgres.strategies import STRATEGIES

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# what an app under test commits: inserts, updates, deletes, sequence advances
APP_CHANGES = [
    "insert into customers (email, name) values ('new@example.com', 'New')",
    "update products set price_cents = price_cents + 1 where id <= 3",
    "delete from order_items where order_id in (select id from orders where customer_id = 2)",
    "delete from orders where customer_id = 2",
    "insert into orders (customer_id, status) values (3, 'paid')",
    "select nextval('orders_id_seq'), nextval('products_id_seq')",
    "insert into audit_log values ('app wrote', 1)",
]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["swap", "template", "truncate"])
async def app_db(request, admin_dsn, migrations_dir):
    """A started database per strategy and the app's own connection pool to it."""
    async with IsolatedDatabase(
        admin_dsn, name=f"pgt_{request.param}", migrations=migrations_dir, isolation=request.param
    ) as db:
        pool = await asyncpg.create_pool(db.dsn, min_size=2, max_size=4)
        db.on_restore(pool)  # expire its connections at every restore
        try:
            yield db, pool
        finally:
            await pool.close()


async def _app_commits(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for sql in APP_CHANGES:
            await conn.execute(sql)


async def test_restore_undoes_commits_of_the_app(app_db, db_state, caplog):
    db, pool = app_db
    assert STRATEGIES[db.isolation].restores_sequences
    await db.begin_test()
    name = db.database
    baseline = await db_state(db.dsn)
    assert baseline[0] == db.snapshot.checksums
    assert baseline[0]["customers"].rows == 20
    for _cycle in range(3):
        await _app_commits(pool)
        held = await asyncpg.connect(db.dsn)  # the app keeps a connection open across the restore
        try:
            held_pid = held.get_server_pid()
            changed = await db_state(db.dsn)
            assert changed[0] != baseline[0]
            assert changed[1] != baseline[1]
            await db.end_test()
            with caplog.at_level(logging.DEBUG, logger="integration_kit.postgres"):
                await db.begin_test()
            assert db.database == name
            if db.isolation != "truncate":  # truncate keeps idle sessions
                assert any(
                    "terminating" in r.getMessage() and f"pid {held_pid} " in r.getMessage()
                    for r in caplog.records
                )
            caplog.clear()
        finally:
            held.terminate()
        # every table's contents and every sequence equal the snapshot
        assert await db_state(db.dsn) == baseline
        # the app's own pool reconnects to the same name and sees the restored data
        async with pool.acquire() as conn:
            assert await verify.table_checksums(conn) == baseline[0]
            assert await conn.fetchval("select current_database()") == name
    await db.end_test()


async def test_diff_names_the_changed_rows(app_db):
    db, pool = app_db
    await db.begin_test()
    assert not await db.diff()
    await db.assert_unchanged()
    await _app_commits(pool)
    result = await db.diff()
    assert set(result.tables) == {"customers", "products", "orders", "order_items", "audit_log"}
    assert [r["email"] for r in result.tables["customers"].added] == ["new@example.com"]
    assert len(result.tables["products"].changed) == 3
    before, after = result.tables["products"].changed[0]
    assert after["price_cents"] == before["price_cents"] + 1
    assert result.tables["audit_log"].added == [{"entry": "app wrote", "at": 1}]
    assert {"orders_id_seq", "products_id_seq", "customers_id_seq"} <= set(result.sequences)
    await db.end_test()
    await db.begin_test()
    assert not await db.diff()
    await db.end_test()
