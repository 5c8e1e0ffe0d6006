"""Named snapshots, verification helpers and data migrations (database-level strategies)."""

from __future__ import annotations

import asyncpg
import pytest
import pytest_asyncio

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres import IsolatedDatabase, verify

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def swap_db(admin_dsn, migrations_dir):
    async with IsolatedDatabase(
        admin_dsn, name="pgt_snapshots", migrations=migrations_dir, isolation="swap"
    ) as db:
        yield db


async def test_named_snapshot_and_restore(swap_db, db_state):
    db = swap_db
    await db.begin_test()
    app = await db.connect()
    await app.execute("delete from audit_log")
    await app.execute("select nextval('customers_id_seq')")
    await db.snapshot_as("no-audit")
    at_snapshot = await db_state(db.dsn)
    app = await db.connect()  # the snapshot closed the app's connections
    await app.execute("delete from order_items")
    await app.execute("insert into customers (email, name) values ('z@example.com', 'Z')")
    assert await db_state(db.dsn) != at_snapshot
    await db.restore("no-audit")
    assert await db_state(db.dsn) == at_snapshot
    assert not await db.diff("no-audit")
    assert (await db.diff()).tables["audit_log"].removed
    with raises_code(ErrorCode.PG_UNKNOWN_SNAPSHOT) as caught:
        await db.restore("never-taken")
    assert "no-audit" in caught[0].context["known"]
    await db.end_test()
    await db.begin_test()  # the next test starts from the class snapshot again
    assert (await db_state(db.dsn))[0] == db.snapshot.checksums
    await db.end_test()


async def test_verification_helpers(swap_db):
    db = swap_db
    await db.begin_test()
    conn = await db.connection()
    assert await verify.table_counts(conn) == {
        "audit_log": 1,
        "customers": 20,
        "order_items": 60,
        "orders": 30,
        "products": 10,
    }
    await verify.assert_rows(conn, "audit_log", [{"entry": "seeded by 010_data.sql; ok", "at": 0}])
    with pytest.raises(AssertionError, match="audit_log"):
        await verify.assert_rows(conn, "audit_log", [{"entry": "something else"}])
    await verify.assert_rows(
        conn, "products", [{"id": i, "price_cents": i * 100} for i in range(1, 11)], ordered=True
    )
    await db.assert_unchanged()
    await conn.execute("update customers set name = 'Renamed' where id = 5")
    with raises_code(ErrorCode.PG_NOT_UNCHANGED) as caught:
        await db.assert_unchanged()
    assert "customers" in caught[0].context["diff"]
    ((before, after),) = (await db.diff()).tables["customers"].changed
    assert (before["id"], after["id"], after["name"]) == (5, 5, "Renamed")
    await db.end_test()


async def test_data_migration_is_applied_to_the_snapshot(swap_db, db_state):
    db = swap_db
    await db.begin_test()
    await db.apply_data_migration("update products set sku = lower(sku)")
    assert (await db_state(db.dsn))[0] == db.snapshot.checksums
    conn = await db.connection()
    assert await conn.fetchval("select sku from products where id = 1") == "sku-1"
    await conn.execute("delete from products where id > 5 and id not in (select product_id from order_items)")
    await db.end_test()
    for _ in range(2):  # restores (spares included) now yield the migrated data
        await db.begin_test()
        conn = await db.connection()
        assert await conn.fetchval("select count(*) from products where sku like 'sku-%'") == 10
        await db.end_test()


async def test_non_idempotent_data_migration_is_refused(swap_db):
    db = swap_db
    await db.begin_test()
    doubling = "update products set price_cents = price_cents * 2"
    with raises_code(ErrorCode.PG_MIGRATION_NOT_IDEMPOTENT) as caught:
        await db.apply_data_migration(doubling)
    assert "products" in caught[0].context["diff"]
    # the snapshot is untouched: the refused migration left no trace
    assert not await db.diff()
    assert await (await db.connection()).fetchval("select price_cents from products where id = 2") == 200
    await db.end_test()


async def test_data_migration_declared_not_idempotent(swap_db):
    db = swap_db
    await db.begin_test()

    async def add_audit(conn: asyncpg.Connection) -> None:
        await conn.execute("insert into audit_log values ('migrated', 2)")

    await db.apply_data_migration(add_audit, idempotent=False)
    assert await (await db.connection()).fetchval("select count(*) from audit_log") == 2
    await db.end_test()
