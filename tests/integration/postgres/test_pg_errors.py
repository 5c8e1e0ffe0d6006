"""Coded errors of the PostgreSQL layer, against the real server; and nothing leaks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid

import asyncpg
import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres import IsolatedDatabase, Janitor
from integration_kit.postgres.janitor import dsn_for, owner_comment, quote_ident, quote_literal
from integration_kit.services.ownership import Owner

pytestmark = [pytest.mark.integration]


async def _kit_databases(admin_dsn: str, prefix: str) -> list[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("select datname from pg_database where datname like $1", prefix + "%")
        return sorted(r["datname"] for r in rows)
    finally:
        await conn.close()


async def test_missing_migrations_directory(admin_dsn, tmp_path):
    db = IsolatedDatabase(admin_dsn, name="pgt_err_missing", migrations=tmp_path / "nope")
    with raises_code(ErrorCode.PG_MIGRATIONS_MISSING) as caught:
        await db.start()
    assert "nope" in caught[0].context["path"]
    assert await _kit_databases(admin_dsn, "ik_pgt_err_missing") == []


async def test_failing_migration_names_file_and_statement(admin_dsn, tmp_path):
    (tmp_path / "001_ok.sql").write_text("create table t (id int primary key);\n")
    (tmp_path / "002_bad.sql").write_text(
        "insert into t values (1);\ninsert into missing_table values (2);\ninsert into t values (3);\n"
    )
    db = IsolatedDatabase(admin_dsn, name="pgt_err_failing", migrations=tmp_path)
    with raises_code(ErrorCode.PG_MIGRATION_FAILED) as caught:
        await db.start()
    context = caught[0].context
    assert context["file"].endswith("002_bad.sql")
    assert context["statement"] == "insert into missing_table values (2)"
    assert "missing_table" in context["cause"]
    assert await _kit_databases(admin_dsn, "ik_pgt_err_failing") == []  # the half-built one is dropped


async def test_failing_migration_callable(admin_dsn):
    def broken(dsn: str) -> None:
        raise RuntimeError("alembic says no")

    db = IsolatedDatabase(admin_dsn, name="pgt_err_callable", migrations=broken)
    with raises_code(ErrorCode.PG_MIGRATION_FAILED) as caught:
        await db.start()
    assert "broken" in caught[0].context["file"]
    assert "alembic says no" in caught[0].context["cause"]


# Servers with password authentication (the docker image) need one; trust ignores it.
ROLE_PASSWORD = "ik-test-role"


@pytest.fixture
async def role_without_createdb(admin_dsn):
    role = f"ik_pgt_nocreatedb_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            f"create role {quote_ident(role)} login nocreatedb nosuperuser password '{ROLE_PASSWORD}'"
        )
        yield role
    finally:
        await conn.execute(f"drop role if exists {quote_ident(role)}")
        await conn.close()


async def test_role_without_createdb(admin_dsn, role_without_createdb):
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_dsn)
    netloc = f"{role_without_createdb}:{ROLE_PASSWORD}@{parts.hostname}:{parts.port}"
    dsn = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    db = IsolatedDatabase(dsn, name="pgt_err_priv")
    with raises_code(ErrorCode.PG_INSUFFICIENT_PRIVILEGE) as caught:
        await db.start()
    assert caught[0].context["role"] == role_without_createdb
    assert caught[0].context["privilege"] == "CREATEDB"


async def test_leftovers_of_dead_runs_are_reaped_and_nothing_else(admin_dsn):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    me = Owner.current()
    dead_owner = dataclasses.replace(me, run_id="deadrun", pid=int(dead.stdout), pid_start=None)
    reused_pid = dataclasses.replace(
        me, run_id="oldrun", pid_start=str(int(me.pid_start or 0) + 1)
    )  # pid alive, another process
    elsewhere = dataclasses.replace(dead_owner, host="another-host")  # a dump restored on this server
    token = uuid.uuid4().hex[:6]
    made = {
        "dead": (f"ik_pgt_reap_{token}_dead", owner_comment(dead_owner)),
        "reused": (f"ik_pgt_reap_{token}_reused", owner_comment(reused_pid)),
        "alive": (f"ik_pgt_reap_{token}_alive", owner_comment(me)),
        "uncommented": (f"ik_pgt_reap_{token}_plain", None),
        "not_ours": (f"pgt_reap_{token}_noprefix", owner_comment(dead_owner)),
        "other_host": (f"ik_pgt_reap_{token}_elsewhere", owner_comment(elsewhere)),
        "malformed": (
            f"ik_pgt_reap_{token}_malformed",
            owner_comment(dead_owner).replace("start=0", "start=x"),
        ),
        "old_format": (f"ik_pgt_reap_{token}_old", f"integration-kit owner={me.host}:{dead_owner.pid}:0"),
        "user": (f"ik_pgt_reap_{token}_user", "the team's reporting database"),
    }
    conn = await asyncpg.connect(admin_dsn)
    try:
        for name, comment in made.values():
            await conn.execute(f"create database {quote_ident(name)}")
            if comment:
                await conn.execute(f"comment on database {quote_ident(name)} is {quote_literal(comment)}")
        async with Janitor(admin_dsn):  # opening reaps
            pass
        left = {r["datname"] for r in await conn.fetch("select datname from pg_database")}
        assert made["dead"][0] not in left and made["reused"][0] not in left
        kept = ("alive", "uncommented", "not_ours", "other_host", "malformed", "old_format", "user")
        assert {made[k][0] for k in kept} <= left
    finally:
        for name, _ in made.values():
            await conn.execute(f"drop database if exists {quote_ident(name)}")
        await conn.close()


@pytest.mark.parametrize("isolation", ["transaction", "swap", "template", "truncate"])
async def test_nothing_is_left_behind(admin_dsn, migrations_dir, isolation):
    name = f"pgt_leak_{isolation}"
    async with IsolatedDatabase(admin_dsn, name=name, migrations=migrations_dir, isolation=isolation) as db:
        for _ in range(2):
            await db.begin_test()
            app = await asyncpg.connect(db.dsn)
            await app.execute("delete from audit_log")
            await db.snapshot_as("x")
            await app.close()
            await db.end_test()
        assert await _kit_databases(admin_dsn, f"ik_{name}")
    assert await _kit_databases(admin_dsn, f"ik_{name}") == []
    assert dsn_for(admin_dsn, "x").endswith("/x")


@pytest.fixture
async def role_with_createdb_only(admin_dsn):
    role = f"ik_pgt_createdb_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(
            f"create role {quote_ident(role)} login createdb nosuperuser password '{ROLE_PASSWORD}'"
        )
        yield role
    finally:
        await conn.execute(f"drop role if exists {quote_ident(role)}")
        await conn.close()


@pytest.mark.parametrize("isolation", ["swap", "truncate"])
async def test_a_createdb_role_is_enough(
    admin_dsn, migrations_dir, role_with_createdb_only, db_state, isolation
):
    """Without superuser: truncate loads parents first (no session_replication_role); swap works."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_dsn)
    dsn = urlunsplit(
        (
            parts.scheme,
            f"{role_with_createdb_only}:{ROLE_PASSWORD}@{parts.hostname}:{parts.port}",
            parts.path,
            "",
            "",
        )
    )
    async with IsolatedDatabase(
        dsn, name=f"pgt_createdb_{isolation}", migrations=migrations_dir, isolation=isolation
    ) as db:
        await db.begin_test()
        baseline = await db_state(db.dsn)
        app = await asyncpg.connect(db.dsn)
        await app.execute("delete from order_items where order_id < 10")
        await app.execute("insert into customers (email, name) values ('r@example.com', 'R')")
        await db.end_test()
        await db.begin_test()
        assert await db_state(db.dsn) == baseline
        await db.end_test()
        await app.close()
        strategy = db.strategy
    if isolation == "truncate":
        assert strategy._replica is False  # the fallback path was taken


async def test_a_migration_changing_the_database_comment_is_refused(admin_dsn, tmp_path):
    (tmp_path / "001_comment.sql").write_text(
        "create table t (id int);\n"
        "do $$ begin execute format('comment on database %I is %L', current_database(), 'mine'); end $$;\n"
    )
    db = IsolatedDatabase(admin_dsn, name="pgt_err_comment", migrations=tmp_path)
    with raises_code(ErrorCode.PG_SNAPSHOT_UNSUPPORTED) as caught:
        await db.start()
    assert "'mine'" in caught[0].context["what"]
    assert await _kit_databases(admin_dsn, "ik_pgt_err_comment") == []  # the half-built one is dropped
