"""``--ik-keep-failed`` (local and docker): a failing test's database, Redis keys and topics
are kept, printed with ready-to-paste commands without credentials, and removed by
``integration-kit services clean`` or by the next run a day later."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from click.testing import CliRunner

from integration_kit.cli import main
from integration_kit.config import Settings
from integration_kit.services.warm import kept
from integration_kit.services.warm.backend import WarmBackend

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest_plugins = ["pytester"]

SUITE = """
from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase


class TestKept(PostgresTestCase, RedisTestCase, KafkaTestCase):
    postgres_migrations = "migrations"
    kafka_topics = {"events": 1}

    async def test_fails_after_writing(self):
        await self.postgres.execute("insert into items (name) values ('seen at failure')")
        await self.redis.set("cart:7", "3 items")
        await self.kafka.send("events", {"id": 7}, key="7")
        assert False, "on purpose"

    async def test_passes(self):
        assert await self.postgres.fetchval("select count(*) from items") == 0
"""


def _inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", settings.backend)
    monkeypatch.setenv("INTEGRATION_KIT_RUNTIME_DIR", str(settings.runtime_dir))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n")
    pytester.makepyfile(test_inner=SUITE)
    (pytester.path / "migrations").mkdir()
    (pytester.path / "migrations" / "001.sql").write_text("create table items (id serial, name text);")


async def _read(record: dict[str, Any]) -> dict[str, Any]:
    pg = record["postgres"]
    conn = await asyncpg.connect(pg["admin_dsn"].rsplit("/", 1)[0] + "/" + pg["database"])
    try:
        rows = [r["name"] for r in await conn.fetch("select name from items")]
    finally:
        await conn.close()
    topic = record["kafka"]["topics"][0]
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=record["kafka"]["bootstrap_servers"], auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
        messages = [m.key for part in batch.values() for m in part]
    finally:
        await consumer.stop()
    return {"rows": rows, "messages": messages}


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_a_failing_test_is_kept_printed_and_cleaned(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inner(pytester, monkeypatch, warm_settings)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", "--ik-keep-failed")
    output = "\n".join(result.outlines)
    result.assert_outcomes(passed=1, failed=1)
    assert "integration-kit: kept for inspection" in output
    (record,) = kept.records(warm_settings)
    database = record["postgres"]["database"]
    assert f"/{database}" in output and re.search(r"psql 'postgresql://\w+@[\d.]+:\d+/ik_kept_\w+'", output)
    assert f"--pattern 'ik:kept:{record['token']}:*'" in output
    assert f"--topic {record['kafka']['topics'][0]} --from-beginning" in output
    assert ":test@" not in output and "password" not in output.lower()

    seen = asyncio.run(_read(record))
    assert seen == {"rows": ["seen at failure"], "messages": [b"7"]}
    r = redis.Redis.from_url(record["redis"]["url"])
    assert r.get(f"ik:kept:{record['token']}:cart:7") == b"3 items"

    cli = CliRunner().invoke(
        main, ["services", "clean"], env={"INTEGRATION_KIT_RUNTIME_DIR": str(warm_settings.runtime_dir)}
    )
    assert cli.exit_code == 0, cli.output
    assert f"database {database}" in cli.output
    assert kept.records(warm_settings) == []
    assert r.keys(f"ik:kept:{record['token']}:*") == []
    assert record["kafka"]["topics"][0] not in asyncio.run(_topics(record["kafka"]["bootstrap_servers"]))
    admin = record["postgres"]["admin_dsn"]

    async def exists() -> bool:
        conn = await asyncpg.connect(admin)
        try:
            return bool(await conn.fetchval("select 1 from pg_database where datname = $1", database))
        finally:
            await conn.close()

    assert not asyncio.run(exists())


def test_the_next_run_removes_what_was_kept_a_day_ago(warm_settings: Settings, tmp_path: Path) -> None:
    backend = WarmBackend(warm_settings, root=tmp_path)
    from integration_kit.services.base import RedisService

    endpoint = backend.start(RedisService(), timeout=90).endpoint
    r = redis.Redis(host=endpoint.host, port=endpoint.port, db=0)
    fresh, old = "fresh001", "old00001"
    for token in (fresh, old):
        r.set(f"ik:kept:{token}:k", "v")
        r.set(f"ik:kept:{token}:{kept.REDIS_MARKER}", kept.comment_for(token, time.time()))
        kept.write_record(
            warm_settings,
            token,
            {"test": "t", "redis": {"url": f"redis://{endpoint.host}:{endpoint.port}/0"}},
        )
    r.set("ik:kept:foreign1:k", "not the kit's: no marker")
    path = kept.kept_dir(warm_settings) / f"{old}.json"
    data = json.loads(path.read_text())
    data["kept"] = time.time() - 2 * kept.MAX_AGE_S
    path.write_text(json.dumps(data))
    backend.close()

    next_run = WarmBackend(warm_settings, root=tmp_path)
    next_run.reap()  # a run's reaper never takes the kept records for a warm set
    next_run.start(RedisService(), timeout=90)
    assert r.keys(f"ik:kept:{old}:*") == []
    assert r.get(f"ik:kept:{fresh}:k") == b"v"
    assert [rec["token"] for rec in kept.records(warm_settings)] == [fresh]
    kept.write_record(
        warm_settings,
        "foreign1",
        {"test": "t", "redis": {"url": f"redis://{endpoint.host}:{endpoint.port}/0"}},
    )
    kept.clean_kept(warm_settings)
    assert r.get("ik:kept:foreign1:k") == b"not the kit's: no marker"
