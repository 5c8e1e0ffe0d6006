"""Data safety on shared services: the kit's classes run against servers full of someone else's data.

The test starts PostgreSQL, Redis and Kafka with the local backend, fills them with data
the kit did not write (a user database, ``ik_``-named databases, one restored from a dump
of a kit database whose marker names a dead pid of another host; Redis keys in databases
inside and outside ``redis_databases``, one holding such a dump's owner key; Kafka topics
whose names equal the declared ones, prefix-collide with them, share the shape of the
kit's run prefix ``ik.<run>.<worker>.`` or equal the kit's names exactly, one of them
named in the kit's topic registry as another host's), runs an inner pytest session of
RedisTestCase, KafkaTestCase and PostgresTestCase classes against them on the external
backend (with and without ``-n 2``) and compares the contents before and after: every
pre-existing byte is still there, and nothing of the kit's is left (no ``ik`` topics, owner
keys, ``ik_`` databases or registry rows of the run).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from integration_kit.config import load_settings
from integration_kit.kafka import create_topics
from integration_kit.kafka.admin import admin_client, describe_topics
from integration_kit.kafka.ownership import cluster_of
from integration_kit.postgres.janitor import COMMENT_PREFIX, quote_ident, quote_literal
from integration_kit.redis.ownership import OWNER_KEY
from integration_kit.services.base import Endpoint, KafkaService, PostgresService, RedisService
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import REGISTRY_FILE, OwnershipRegistry
from integration_kit.services.serve import environment

pytestmark = pytest.mark.integration

#: Filled with foreign keys: 0 (the URL's, prefix isolation), 1 (the kit's default pick), 3, 15
#: (outside the declared set) and 12 (declared: a dump of a kit database, its owner key naming
#: a pid of another host). 9 and 10, declared, are left empty: the kit's under -n 2.
REDIS_DATABASES = (0, 1, 3, 12, 15)
DECLARED_REDIS = "9-10,12"
DUMP_DB = 12
#: The xdist run's id: the kit's topics are then named ik.<RUN12>.gwN.<declared>.
RUN_ID = "5afe7e57c0de" + "0" * 20
RUN12 = RUN_ID[:12]
FOREIGN_TOPICS = (
    "payments",
    "gw0.events",
    "gw1.payments",
    "events.archive",
    "ik.0123456789ab.main.payments",  # the kit's prefix shape, another run id
    f"ik.{RUN12}.gw0.payments",  # exactly the names the -n 2 run would give its topics
    f"ik.{RUN12}.gw1.payments",
    f"ik.{RUN12}.gw0.events",
    f"ik.{RUN12}.main.elsewhere",  # in the registry as another host's: never judged here
)
OTHER_HOST = Owner(run_id="dump", host="another-host", pid=2**22 + 7, pid_start="5")

INNER = """
from typing import ClassVar

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase


class TestRedisDb(RedisTestCase):
    async def test_writes(self):
        await self.redis.set("kit:key", "x")


class TestRedisPrefix(RedisTestCase):
    redis_isolation: ClassVar[str] = "prefix"

    async def test_writes(self):
        await self.redis.set(self.redis_kit.key("kit:key"), "x")


class TestPaymentsTopic(KafkaTestCase):
    kafka_topics = {"payments": 1}

    async def test_sends(self):
        await self.kafka.send("payments", {"id": 1})


class TestEventsTopic(KafkaTestCase):
    kafka_topics = ["events", "orders"]

    async def test_sends(self):
        await self.kafka.send("orders", {"id": 1})


class TestPostgres(PostgresTestCase):
    async def test_writes(self):
        await self.postgres.execute("create table kit_table (id int)")
"""


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Endpoint]]:
    """PostgreSQL, Redis and Kafka of this module's own, started by the local backend."""
    from integration_kit.services.session import ServiceSession

    with ServiceSession(load_settings(backend="local")) as session:
        started = session.ensure([PostgresService(), RedisService(), KafkaService()])
        yield {key: service.endpoint for key, service in started.items()}


# --- filling and reading back --------------------------------------------------------------


def _redis(endpoint: Endpoint, db: int) -> aioredis.Redis:
    return aioredis.Redis(host=endpoint.host, port=endpoint.port, password=endpoint.password, db=db)


async def _fill_redis(endpoint: Endpoint) -> None:
    for db in REDIS_DATABASES:
        client = _redis(endpoint, db)
        await client.set(f"user:{db}", b"\x00\xff value")
        await client.hset("profile", mapping={"name": "ada", "db": str(db)})
        await client.rpush("queue", "a", "b")
        await client.set("ik:main:kit-shaped", "not the kit's")  # inside no prefix the kit owns here
        await client.set("expiring", "v", ex=3600)
        if db == DUMP_DB:  # restored from a dump of a kit database on another host
            await client.set(OWNER_KEY, OTHER_HOST.text)
        await client.aclose()


async def _read_redis(endpoint: Endpoint) -> dict[int, dict[bytes, bytes]]:
    out: dict[int, dict[bytes, bytes]] = {}
    for db in range(16):
        client = _redis(endpoint, db)
        out[db] = {key: await client.dump(key) async for key in client.scan_iter()}
        await client.aclose()
    return out


async def _fill_kafka(servers: str) -> None:
    await create_topics(servers, dict.fromkeys(FOREIGN_TOPICS, 2), timeout=30)
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for topic in FOREIGN_TOPICS:
            for i in range(4):
                await producer.send_and_wait(
                    topic, b"%s-%d\x00" % (topic.encode(), i), key=b"k", partition=i % 2
                )
    finally:
        await producer.stop()


async def _read_kafka(servers: str) -> dict[str, list[tuple[int, int, bytes | None, bytes | None]]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if not t.startswith("__"))
        described = await describe_topics(admin, topics)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    out: dict[str, list[tuple[int, int, bytes | None, bytes | None]]] = {}
    try:
        for topic in topics:
            partitions = [TopicPartition(topic, p) for p in sorted(described[topic].partitions)]
            if not partitions:  # being deleted
                out[topic] = []
                continue
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            messages: list[tuple[int, int, bytes | None, bytes | None]] = []
            for tp in partitions:
                while await consumer.position(tp) < ends[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=2000)
                    messages.extend((m.partition, m.offset, m.key, m.value) for m in batch.get(tp, []))
            out[topic] = messages
    finally:
        await consumer.stop()
    return out


def _pg_databases() -> dict[str, str | None]:
    other_host = OTHER_HOST  # its pid does not run here: that proves nothing about another host
    dead_here = Owner(run_id="dump", host=Owner.current().host, pid=2**22 + 7, pid_start="5")
    return {
        "shop": "the team's database",
        "ik_test": None,  # the kit's working name, created by someone else
        "ik_test_gw0": COMMENT_PREFIX + other_host.text,  # a dump of a kit database from another host
        "ik_test_gw1": COMMENT_PREFIX + dead_here.text.replace("pid=", "pid=x"),  # malformed marker
        "ik_reports": "integration-kit owner=somehost:1:1",  # the old marker format
    }


async def _fill_postgres(endpoint: Endpoint) -> None:
    conn = await asyncpg.connect(endpoint.dsn)
    try:
        for name, comment in _pg_databases().items():
            await conn.execute(f"create database {quote_ident(name)}")
            if comment is not None:
                await conn.execute(f"comment on database {quote_ident(name)} is {quote_literal(comment)}")
            db = await asyncpg.connect(_dsn(endpoint, name))
            try:
                await db.execute("create table t (id int primary key, payload bytea, note text)")
                await db.execute("insert into t values (1, '\\x00ff'::bytea, $1), (2, null, 'two')", name)
            finally:
                await db.close()
    finally:
        await conn.close()


def _dsn(endpoint: Endpoint, database: str) -> str:
    from integration_kit.postgres.janitor import dsn_for

    return dsn_for(endpoint.dsn, database)


async def _read_postgres(endpoint: Endpoint) -> dict[str, Any]:
    conn = await asyncpg.connect(endpoint.dsn)
    try:
        rows = await conn.fetch(
            "select datname, shobj_description(oid, 'pg_database') as comment from pg_database "
            "where not datistemplate and datname <> 'postgres' order by datname"
        )
    finally:
        await conn.close()
    out: dict[str, Any] = {}
    for row in rows:
        db = await asyncpg.connect(_dsn(endpoint, row["datname"]))
        try:
            tables = await db.fetch(
                "select table_name from information_schema.tables where table_schema = 'public' order by 1"
            )
            content = {
                t["table_name"]: [
                    tuple(r)
                    for r in await db.fetch(f"select * from {quote_ident(t['table_name'])} order by 1")
                ]
                for t in tables
            }
        finally:
            await db.close()
        out[row["datname"]] = (row["comment"], content)
    return out


async def _read_all(servers: dict[str, Endpoint]) -> dict[str, Any]:
    return {
        "redis": await _read_redis(servers["redis"]),
        "kafka": await _read_kafka(servers["kafka"].bootstrap_servers),
        "postgres": await _read_postgres(servers["postgres"]),
    }


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> OwnershipRegistry:
    """The inner runs' Kafka topic registry (their INTEGRATION_KIT_CACHE_DIR)."""
    return OwnershipRegistry(tmp_path_factory.mktemp("cache") / REGISTRY_FILE)


async def _registry_rows(registry: OwnershipRegistry, servers: str) -> dict[str, Owner | None]:
    async with admin_client(servers) as admin:
        return registry.owners(await cluster_of(admin, servers))


@pytest.fixture(scope="module")
def before(servers: dict[str, Endpoint], registry: OwnershipRegistry) -> dict[str, Any]:
    """The servers filled with foreign data, and their contents."""

    async def fill() -> dict[str, Any]:
        await _fill_redis(servers["redis"])
        await _fill_kafka(servers["kafka"].bootstrap_servers)
        await _fill_postgres(servers["postgres"])
        async with admin_client(servers["kafka"].bootstrap_servers) as admin:
            cluster = await cluster_of(admin, servers["kafka"].bootstrap_servers)
        registry.record(cluster, [f"ik.{RUN12}.main.elsewhere"], OTHER_HOST)
        return await _read_all(servers)

    return asyncio.run(fill())


def _inner_run(
    servers: dict[str, Endpoint],
    tmp_path: Path,
    registry: OwnershipRegistry,
    redis_databases: str,
    extra: list[str],
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEGRATION_KIT_", "PYTEST_XDIST"))}
    env.update(environment(servers))
    env["INTEGRATION_KIT_RUNTIME_DIR"] = str(tmp_path / "runtime")
    env["INTEGRATION_KIT_CACHE_DIR"] = str(registry.path.parent)
    env["INTEGRATION_KIT_REDIS_DATABASES"] = redis_databases
    env["COLUMNS"] = "1000"  # the -rA summary lines carry the whole error message
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(tmp_path),
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _outcome(output: str, test_class: str) -> str:
    """PASSED, FAILED or ERROR for the inner test of ``test_class`` (from the -rA summary)."""
    for line in output.splitlines():
        if (
            f"test_inner.py::{test_class}::test_writes" in line
            or f"test_inner.py::{test_class}::test_sends" in line
        ):
            for word in ("PASSED", "FAILED", "ERROR"):
                if line.startswith(word):
                    return word + line[len(word) :]
    return "missing"


async def _settled(servers: dict[str, Endpoint], before: dict[str, Any]) -> dict[str, Any]:
    """The contents once the kit's topic deletions (sent without waiting) have gone through."""
    for _ in range(30):
        after = await _read_all(servers)
        if set(after["kafka"]) == set(before["kafka"]):
            return after
        await asyncio.sleep(0.5)
    return after


RUNS = {
    "serial": (DECLARED_REDIS, []),
    "xdist": (DECLARED_REDIS, ["-n", "2", f"--testrunuid={RUN_ID}"]),
    # only the dump database is declared: the kit must refuse it, and say which setting to change
    "dump-db": (str(DUMP_DB), ["-k", "TestRedisDb"]),
    # one declared database, two workers: refused in every worker before anything is touched
    "too-few-databases": ("9", ["-n", "2", "-k", "TestRedisDb"]),
}


@pytest.mark.parametrize("run", list(RUNS))
def test_foreign_data_survives_byte_for_byte_and_nothing_of_the_kit_is_left(
    servers: dict[str, Endpoint],
    before: dict[str, Any],
    registry: OwnershipRegistry,
    tmp_path: Path,
    run: str,
) -> None:
    redis_databases, extra = RUNS[run]
    result = _inner_run(servers, tmp_path, registry, redis_databases, extra)
    output = result.stdout + result.stderr
    tail = output[-4000:]
    (tmp_path / "inner-output.txt").write_text(output)
    after = asyncio.run(_settled(servers, before))
    # every pre-existing byte is still there, and nothing else is
    assert after["postgres"] == before["postgres"], tail
    assert after["redis"] == before["redis"], tail
    assert after["kafka"] == before["kafka"], tail
    # the registry holds the other host's row and nothing of the inner run's
    rows = asyncio.run(_registry_rows(registry, servers["kafka"].bootstrap_servers))
    assert rows == {f"ik.{RUN12}.main.elsewhere": OTHER_HOST}, tail
    with registry._connect() as conn:  # no claimed Redis database is still recorded either
        assert conn.execute("select place, name from owned where place like 'redis:%'").fetchall() == []
    outcomes = {
        cls: _outcome(output, cls)
        for cls in ("TestRedisDb", "TestRedisPrefix", "TestPaymentsTopic", "TestEventsTopic", "TestPostgres")
    }
    if run == "too-few-databases":
        assert outcomes["TestRedisDb"].startswith("ERROR"), (outcomes, tail)
        assert (
            "IK-REDIS-DATABASES-EXHAUSTED] 2 worker(s) need a Redis database each" in outcomes["TestRedisDb"]
        )
        return
    if run == "dump-db":
        assert outcomes["TestRedisDb"].startswith("ERROR"), (outcomes, tail)
        assert f"IK-REDIS-DB-FOREIGN] The kit does not own database {DUMP_DB} " in outcomes["TestRedisDb"], (
            tail
        )
        assert "another-host" in outcomes["TestRedisDb"], tail
        assert "Declare databases the kit may use in INTEGRATION_KIT_REDIS_DATABASES" in output, tail
        return
    # the kit's working database name was taken by someone else: it used another one
    assert outcomes["TestPostgres"].startswith("PASSED"), (outcomes, tail)
    # the kit uses only the declared databases 9 and 10, which were empty
    assert outcomes["TestRedisDb"].startswith("PASSED"), (outcomes, tail)
    # the topics carry the run's prefix: "payments", "gw0.events"... are not in the way
    if not extra:
        assert "IK-REDIS-DB-FOREIGN" in outcomes["TestRedisPrefix"], tail  # ik:main: in db 0 is taken
        assert outcomes["TestPaymentsTopic"].startswith("PASSED"), (outcomes, tail)
        assert outcomes["TestEventsTopic"].startswith("PASSED"), (outcomes, tail)
    else:
        # ik:gw0: / ik:gw1: are free; ik.<run>.gwN.payments exist with exactly the kit's names
        assert outcomes["TestRedisPrefix"].startswith("PASSED"), (outcomes, tail)
        assert "IK-KAFKA-TOPIC-FOREIGN" in outcomes["TestPaymentsTopic"], (outcomes, tail)
        assert f"ik.{RUN12}.gw" in outcomes["TestPaymentsTopic"], (outcomes, tail)
        # which worker gets the class varies: gw0 finds ik.<run>.gw0.events taken, gw1 does not
        events = outcomes["TestEventsTopic"]
        assert events.startswith("PASSED") or "IK-KAFKA-TOPIC-FOREIGN" in events, (outcomes, tail)
