"""A class with Redis or Kafka whose ``postgres_seed`` scenarios write only to PostgreSQL
keeps its keyed snapshot across runs (the build showed its seed used no other store); one
whose scenarios also write to Redis builds it again in every run, so every run has the
scenario's Redis keys as well as its rows."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from warm_helpers import prepare_inner_run

from integration_kit.config import Settings
from integration_kit.services.warm.project import project_id
from integration_kit.services.warm.store import WarmSet

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest_plugins = ["pytester"]

SUITE = """
import json
import os
from pathlib import Path

from integration_kit import PostgresTestCase, RedisTestCase
from integration_kit.seeding import scenario

OUT = Path(os.environ["IK_TEST_OUT"])


@scenario
async def rows(ctx):
    await ctx.postgres.execute("insert into items (name) values ('seeded')")


@scenario
async def rows_and_cache(ctx):
    await ctx.postgres.execute("insert into items (name) values ('seeded')")
    await ctx.redis.client.set(ctx.redis.key("cached"), "yes")


class TestRowsOnly(PostgresTestCase, RedisTestCase):
    postgres_migrations = "migrations"
    postgres_seed = [rows]

    async def test_rows(self):
        assert await self.postgres.fetchval("select count(*) from items") == 1
        assert await self.redis.dbsize() == 0


class TestRowsAndCache(PostgresTestCase, RedisTestCase):
    postgres_migrations = "migrations"
    postgres_seed = [rows_and_cache]

    async def test_rows_and_cache(self):
        assert await self.postgres.fetchval("select count(*) from items") == 1
        assert await self.redis.get(self.redis_kit.key("cached")) == b"yes"
        (OUT / "cache.json").write_text(json.dumps({"ok": True}))
"""


def snapshot_oids(warm: WarmSet) -> dict[str, int]:
    """The oid of each keyed snapshot on the warm PostgreSQL, by class (a rebuild changes it)."""
    pg = next(data["endpoint"] for data in warm.services().values() if data["kind"] == "postgres")

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(
            host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], database="postgres"
        )
        try:
            rows = await conn.fetch(
                "select oid, shobj_description(oid, 'pg_database') as comment from pg_database "
                "where datname like 'ik\\_snap\\_%'"
            )
        finally:
            await conn.close()
        return {row["comment"].split(" class=")[1].split()[0]: row["oid"] for row in rows}

    return asyncio.run(read())


@pytest.mark.parametrize("warm_settings", ["local"], indirect=True)
def test_only_a_seed_that_used_no_other_store_is_kept(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = prepare_inner_run(pytester, monkeypatch, warm_settings)
    pytester.makepyfile(test_inner=SUITE)
    (pytester.path / "migrations").mkdir()
    (pytester.path / "migrations" / "001_items.sql").write_text(
        "create table items (id serial primary key, name text not null);"
    )
    warm = WarmSet(warm_settings, project=project_id(pytester.path), backend=warm_settings.backend)
    seen = []
    for _ in range(3):
        (out / "cache.json").unlink(missing_ok=True)
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-reuse")
        result.assert_outcomes(passed=2)
        assert json.loads((out / "cache.json").read_text()) == {"ok": True}, "the Redis key was seeded"
        seen.append(snapshot_oids(warm))
    rows_only = [oids["test_inner.TestRowsOnly"] for oids in seen]
    with_cache = [oids["test_inner.TestRowsAndCache"] for oids in seen]
    assert len(set(rows_only)) == 1, f"kept and reused: {rows_only}"
    assert len(set(with_cache)) == 3, f"built again in every run: {with_cache}"


HELPER_SUITE = """
import json
import os
from pathlib import Path

from integration_kit import PostgresTestCase
from integration_kit.seeding import scenario
from seedhelpers import rows

OUT = Path(os.environ["IK_TEST_OUT"])


@scenario
async def items(ctx):
    for name in rows():
        await ctx.postgres.execute("insert into items (name) values ($1)", name)


class TestHelperSeed(PostgresTestCase):
    postgres_migrations = "migrations"
    postgres_seed = [items]

    async def test_reads_the_seed(self):
        names = [r["name"] for r in await self.postgres.fetch("select name from items order by id")]
        (OUT / "names.json").write_text(json.dumps(names))
"""


@pytest.mark.parametrize("warm_settings", ["local"], indirect=True)
def test_a_changed_helper_module_of_the_seed_rebuilds_the_snapshot(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's own module is unchanged; the helper it imports is not: the next warm run
    must see the helper's new rows, not the snapshot built from the old ones."""
    out = prepare_inner_run(pytester, monkeypatch, warm_settings)
    pytester.makepyfile(test_inner=HELPER_SUITE)
    (pytester.path / "migrations").mkdir()
    (pytester.path / "migrations" / "001_items.sql").write_text(
        "create table items (id serial primary key, name text not null);"
    )
    helper = pytester.path / "seedhelpers.py"
    warm = WarmSet(warm_settings, project=project_id(pytester.path), backend=warm_settings.backend)
    seen = []
    for version in (["a"], ["a"], ["a", "b"]):
        helper.write_text(f"def rows():\n    return {version!r}\n")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-reuse")
        result.assert_outcomes(passed=1)
        assert json.loads((out / "names.json").read_text()) == version
        seen.append(snapshot_oids(warm)["test_inner.TestHelperSeed"])
    assert seen[0] == seen[1], "an unchanged helper keeps the snapshot"
    assert seen[2] != seen[1], "the changed helper rebuilt it"
