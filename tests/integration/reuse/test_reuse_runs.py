"""Whole pytest runs with reuse on (local and docker): consecutive runs share one warm set,
each in its own namespace, and see nothing of each other's data; under xdist too; a changed
migration rebuilds the class's snapshot; with reuse off (the CI default) nothing stays."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient
from warm_helpers import prepare_inner_run, processes_in

from integration_kit.config import Settings
from integration_kit.services.warm.project import project_id
from integration_kit.services.warm.store import WarmSet, list_sets

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest_plugins = ["pytester"]

SUITE = """
import json
import os
from pathlib import Path

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase

OUT = Path(os.environ["IK_TEST_OUT"])


class TestRun(PostgresTestCase, RedisTestCase, KafkaTestCase):
    postgres_migrations = "migrations"
    kafka_topics = {"events": 1}

    async def test_sees_nothing_of_another_run_and_leaves_data(self):
        assert await self.postgres.fetchval("select count(*) from items") == 0
        assert await self.redis.get("left-by-a-run") is None
        assert await self.kafka.messages("events") == []
        conn = await self.postgres.connect()  # committed: outlives the test's transaction
        qty = await conn.fetchval("insert into items (name) values ('run') returning qty")
        await self.redis.set("left-by-a-run", "yes")
        await self.kafka.send("events", {"run": os.environ.get("PYTEST_XDIST_WORKER", "main")})
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (OUT / f"{worker}.json").write_text(json.dumps({
            "database": self.postgres.database,
            "topic": self.kafka.topic("events"),
            "redis_db": self.redis.connection_pool.connection_kwargs.get("db"),
            "pg_port": self.postgres_endpoint_port(),
            "qty_default": qty,
        }))

    def postgres_endpoint_port(self):
        return int(self.postgres.dsn.rsplit(":", 1)[1].split("/")[0])
"""


def _inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Path:
    out = prepare_inner_run(pytester, monkeypatch, settings)
    pytester.makepyfile(test_inner=SUITE)
    migrations = pytester.path / "migrations"
    migrations.mkdir()
    write_migration(migrations, default=1)
    return out


def write_migration(root: Path, *, default: int) -> None:
    (root / "001_items.sql").write_text(
        f"create table items (id serial primary key, name text not null, qty int not null default {default});"
    )


def run(pytester: pytest.Pytester, out: Path, *args: str) -> list[dict[str, Any]]:
    for old in out.glob("*.json"):
        old.unlink()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", *args, timeout=300)
    output = "\n".join(result.outlines + result.errlines)
    assert result.ret == 0, output[-4000:]
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.json"))]


def endpoints(warm: WarmSet) -> dict[str, dict[str, Any]]:
    return {data["kind"]: data["endpoint"] for data in warm.services().values()}


def server_state(warm: WarmSet, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """What the warm servers hold of the runs in ``seen``: databases, topics, keys."""
    found = endpoints(warm)

    async def read() -> dict[str, Any]:
        pg = found["postgres"]
        conn = await asyncpg.connect(
            host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], database="postgres"
        )
        try:
            databases = [r["datname"] for r in await conn.fetch("select datname from pg_database")]
        finally:
            await conn.close()
        kafka = found["kafka"]
        admin = AIOKafkaAdminClient(
            bootstrap_servers=kafka["extra"].get("bootstrap_servers") or f"{kafka['host']}:{kafka['port']}"
        )
        await admin.start()
        try:
            topics = await admin.list_topics()
        finally:
            await admin.close()
        return {"databases": databases, "topics": topics}

    state = asyncio.run(read())
    r = found["redis"]
    state["keys"] = {
        item["redis_db"]: redis.Redis(host=r["host"], port=r["port"], db=item["redis_db"]).keys("*")
        for item in seen
    }
    return state


def test_consecutive_runs_share_one_warm_set_and_none_of_their_data(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _inner(pytester, monkeypatch, warm_settings)
    first = run(pytester, out, "--ik-reuse")
    warm = WarmSet(warm_settings, project=project_id(pytester.path), backend=warm_settings.backend)
    assert warm.exists() and warm.watchdog_alive(), "the run left its warm set running"
    after_first = server_state(warm, first)
    assert first[0]["database"] not in after_first["databases"]
    assert first[0]["topic"] not in after_first["topics"]
    assert all(keys == [] for keys in after_first["keys"].values()), after_first["keys"]
    snapshots = [name for name in after_first["databases"] if name.startswith("ik_snap_")]
    assert len(snapshots) == 1, after_first["databases"]
    assert [name for name in after_first["databases"] if name.startswith("ik_")] == snapshots

    second = run(pytester, out, "--ik-reuse", "-n", "2", "--dist", "each")
    assert len(second) == 2
    for item in second:
        assert item["pg_port"] == first[0]["pg_port"], "the second run reused the warm PostgreSQL"
        assert item["database"] != first[0]["database"] and item["topic"] != first[0]["topic"]
    assert len({item["topic"] for item in second}) == 2
    after_second = server_state(warm, second)
    assert [name for name in after_second["databases"] if name.startswith("ik_")] == snapshots
    assert not {item["topic"] for item in second} & set(after_second["topics"])
    assert len(list_sets(warm_settings)) == 1

    # One changed byte in a migration: the class's snapshot is built again, from it.
    write_migration(pytester.path / "migrations", default=2)
    third = run(pytester, out, "--ik-reuse")
    assert third[0]["qty_default"] == 2 and first[0]["qty_default"] == 1
    after_third = server_state(warm, third)
    assert len([name for name in after_third["databases"] if name.startswith("ik_snap_")]) == 2


PG_ONLY = """
from integration_kit import PostgresTestCase


class TestPlain(PostgresTestCase):
    postgres_migrations = "migrations"

    async def test_one(self):
        assert await self.postgres.fetchval("select count(*) from items") == 0
"""


def test_reuse_off_leaves_nothing_running(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inner(pytester, monkeypatch, warm_settings)
    pytester.makepyfile(test_inner=PG_ONLY)
    runtime = Path(str(warm_settings.runtime_dir))
    monkeypatch.setenv("INTEGRATION_KIT_REUSE", "false")
    for args, env in (((), {}), (("--ik-reuse", "--ik-keep-failed"), {"CI": "true"})):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--no-ik-metrics", *args, timeout=300
        )
        result.assert_outcomes(passed=1)
        assert list_sets(warm_settings) == []
        assert processes_in(runtime) == [], "no server of the run outlives it"
