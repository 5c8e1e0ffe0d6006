"""Restore fidelity on a rich schema: every strategy undoes every kind of change exactly.

Each cell of the matrix (strategy x mutation) commits a mutation the way an app would
(under ``transaction``: on the test's connection), checks that ``diff()`` sees it, lets
the kit restore, and then compares the database with the snapshot right after seeding
*independently of the kit*: ``pg_dump --schema-only --create`` (schema, database-level
settings, grants, comments, owners), per-relation checksums of the rows in a total order,
every sequence's ``last_value``/``is_called`` and every large object. A cell is either
"restored exactly" or "refused" with a coded error, and then the next test must be clean.
With ``IK_FIDELITY_MATRIX=<file>`` each cell's outcome is appended to that file as JSON.
"""

from __future__ import annotations

import json
import os
import uuid

import asyncpg
import pytest
import pytest_asyncio
from pg_fidelity_state import MUTATIONS, independent_state, mutation_sql, rich_migration

from integration_kit.errors import IntegrationKitError
from integration_kit.postgres import IsolatedDatabase
from integration_kit.postgres.janitor import quote_ident

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

ROLE_PASSWORD = "ik-fidelity-role"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app_role(admin_dsn):
    """The app's role (grants, per-role settings), unique to this run."""
    role = f"ik_fid_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"create role {quote_ident(role)} login password '{ROLE_PASSWORD}'")
        yield role
    finally:
        await conn.execute(f"drop role if exists {quote_ident(role)}")
        await conn.close()


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["swap", "template", "truncate", "transaction"]
)
async def rich_db(request, admin_dsn, app_role):
    """A started database per strategy, and the snapshot's independent state after seeding."""
    async with IsolatedDatabase(
        admin_dsn, name=f"fid_{request.param}", migrations=rich_migration(app_role), isolation=request.param
    ) as db:
        async with db._snapshot.lock:  # no clone runs while pg_dump reads the template
            baseline = await independent_state(admin_dsn, db._snapshot.database)
        yield db, baseline


async def _mutate(db: IsolatedDatabase, statements: list[str]) -> None:
    if db.isolation == "transaction":
        conn = await db.connection()
        async with conn.transaction():
            for statement in statements:
                await conn.execute(statement)
        return
    conn = await asyncpg.connect(db.dsn)  # the app's own connection, committing
    try:
        async with conn.transaction():
            for statement in statements:
                await conn.execute(statement)
    finally:
        await conn.close()


async def _state(db: IsolatedDatabase, admin_dsn: str):
    on = await db.connection() if db.isolation == "transaction" else None
    return await independent_state(admin_dsn, db.database, on=on)


def _record(strategy: str, mutation: str, outcome: str) -> None:
    path = os.environ.get("IK_FIDELITY_MATRIX")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps({"strategy": strategy, "mutation": mutation, "outcome": outcome}) + "\n")


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_restore_is_exact(rich_db, admin_dsn, app_role, mutation):
    db, baseline = rich_db
    await db.begin_test()
    # the database a test sees is the snapshot, database-level state included
    assert baseline.differences(await _state(db, admin_dsn)) == []
    assert not await db.diff()
    await _mutate(db, mutation_sql(mutation, app_role))
    seen = await db.diff()
    assert seen, f"diff() saw no difference after {mutation!r}"
    await db.end_test()
    rebuilds = getattr(db.strategy, "rebuilds", 0)
    outcome = "restored exactly"
    try:
        await db.begin_test()
    except IntegrationKitError as exc:  # refused: the next test must still start clean
        outcome = f"refused ({exc.code.value})"
        await db.begin_test()
    if getattr(db.strategy, "rebuilds", 0) > rebuilds:
        outcome += " (rebuilt from the snapshot)"
    problems = baseline.differences(await _state(db, admin_dsn))
    _record(db.isolation, mutation, "SILENTLY DIFFERENT: " + "; ".join(problems) if problems else outcome)
    assert problems == []
    assert not await db.diff()
    await db.end_test()
