"""The topic registry: a run killed with SIGKILL leaves its topics, the next run removes exactly those.

Inner pytest sessions run a ``KafkaTestCase`` on the external backend against the run's
broker, with a registry of their own (``INTEGRATION_KIT_CACHE_DIR``). The first is killed
with SIGKILL while its test runs; the second must delete the first one's topics and
nothing else: foreign topics, including ones shaped like the kit's (``ik.<run>.main.x``)
but not in the registry, keep every message.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from integration_kit.config import load_settings
from integration_kit.kafka import create_topics, delete_topics
from integration_kit.kafka.admin import admin_client, describe_topics
from integration_kit.kafka.ownership import Cluster, cluster_of, reap_leftovers
from integration_kit.services.base import Endpoint
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import REGISTRY_FILE, OwnershipRegistry
from integration_kit.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.integration

INNER = """
import json
import os
import time

from integration_kit import KafkaTestCase


class TestKilled(KafkaTestCase):
    kafka_topics = {"orders": 2, "events": 1}

    async def test_is_killed_here(self):
        await self.kafka.send("orders", {"id": 1})
        with open(os.environ["MARKER"], "w") as marker:
            json.dump(sorted(self.kafka.topics.values()), marker)
        time.sleep(600)  # SIGKILLed by the outer test


class TestNext(KafkaTestCase):
    kafka_topics = ["orders"]

    async def test_runs(self):
        with open(os.environ["MARKER"], "w") as marker:
            json.dump(sorted(self.kafka.topics.values()), marker)
        await self.kafka.send("orders", {"id": 2})
"""


async def _fill(servers: str, topics: list[str]) -> None:
    await create_topics(servers, dict.fromkeys(topics, 2), timeout=30)
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        for topic in topics:
            for i in range(4):
                await producer.send_and_wait(topic, b"foreign-%d\x00\xff" % i, key=b"k", partition=i % 2)
    finally:
        await producer.stop()


async def _contents(servers: str, topics: list[str]) -> dict[str, list[tuple[int, int, bytes | None]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    await consumer.start()
    try:
        async with admin_client(servers) as admin:
            described = await describe_topics(admin, topics)
        out: dict[str, list[tuple[int, int, bytes | None]]] = {}
        for topic in topics:
            partitions = [TopicPartition(topic, p) for p in sorted(described[topic].partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            messages: list[tuple[int, int, bytes | None]] = []
            for tp in partitions:
                while await consumer.position(tp) < ends[tp]:
                    batch = await consumer.getmany(tp, timeout_ms=2000)
                    messages.extend((m.partition, m.offset, m.value) for m in batch.get(tp, []))
            out[topic] = messages
        return out
    finally:
        await consumer.stop()


async def _existing(servers: str, names: list[str]) -> set[str]:
    async with admin_client(servers) as admin:
        found = await describe_topics(admin, names)
    return {name for name in names if name in found and found[name].exists and found[name].partitions}


async def _registry_rows(tmp_path: Path, servers: str) -> dict[str, Owner | None]:
    registry = OwnershipRegistry(tmp_path / "cache" / REGISTRY_FILE)
    async with admin_client(servers) as admin:
        return registry.owners(await cluster_of(admin, servers))


def test_the_next_run_reaps_exactly_the_topics_of_a_run_killed_with_sigkill(
    ik_kafka: Endpoint, tmp_path: Path, inner_external_runs: Any
) -> None:
    runs = inner_external_runs(INNER, {"kafka": ik_kafka})
    servers = ik_kafka.bootstrap_servers
    token = uuid.uuid4().hex[:12]
    # someone else's topics: shaped like the kit's (same prefix shape, other run ids) and plain
    foreign = [f"ik.{token}.main.orders", f"ik.{token}.gw0.events", f"plain-{token}"]
    asyncio.run(_fill(servers, foreign))
    before = asyncio.run(_contents(servers, foreign))
    try:
        killed = runs.spawn("TestKilled", tmp_path / "killed.json")
        left = json.loads(runs.wait_for(tmp_path / "killed.json", killed))
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        assert killed.returncode == -signal.SIGKILL
        # the killed run's topics carry its run prefix and are still there, recorded as its own
        assert len(left) == 2 and all(name.startswith("ik.") and ".main." in name for name in left)
        assert asyncio.run(_existing(servers, left)) == set(left)
        rows = asyncio.run(_registry_rows(tmp_path, servers))
        assert set(rows) == set(left)
        assert all(
            owner is not None and owner.pid == killed.pid and not owner.alive() for owner in rows.values()
        )

        following = runs.spawn("TestNext", tmp_path / "next.json")
        output, _ = following.communicate(timeout=300)
        assert following.returncode == 0, output
        mine = json.loads((tmp_path / "next.json").read_text())
        assert not set(mine) & set(left)  # a new run, a new prefix
        # deletions are asynchronous on the broker
        wait_until_sync(lambda: asyncio.run(_existing(servers, [*left, *mine])), equals=set(), timeout=30)
        assert asyncio.run(_registry_rows(tmp_path, servers)) == {}
        assert asyncio.run(_contents(servers, foreign)) == before  # every message of the others
    finally:
        asyncio.run(delete_topics(servers, foreign, timeout=30))


async def test_rows_of_other_hosts_live_pids_and_unreadable_owners_are_never_reaped(
    ik_kafka: Endpoint, tmp_path: Path
) -> None:
    servers = ik_kafka.bootstrap_servers
    token = uuid.uuid4().hex[:12]
    registry = OwnershipRegistry(tmp_path / REGISTRY_FILE)
    me = Owner.current()
    dead = Owner(run_id="dead", host=me.host, pid=_dead_pid(), pid_start="5")
    others = {
        f"ik.{token}.main.elsewhere": Owner(run_id="other", host="another-host", pid=dead.pid, pid_start="5"),
        f"ik.{token}.main.alive": Owner(run_id="live", host=me.host, pid=os.getppid(), pid_start=None),
        f"ik.{token}.main.mine": me,
    }
    doomed = f"ik.{token}.main.dead"
    names = [*others, doomed, f"ik.{token}.main.unreadable"]
    await _fill(servers, names)
    async with admin_client(servers) as admin:
        cluster = await cluster_of(admin, servers)
        for name, owner in others.items():
            registry.record(cluster, [name], owner)
        registry.record(cluster, [doomed], dead)
        with registry._connect() as conn:  # a row whose owner text does not parse
            conn.execute("insert into owned values (?, ?, 'pid=x', 0)", (cluster.key, names[-1]))
        other_cluster = Cluster(servers, "another-cluster")
        registry.record(other_cluster, [names[0]], dead)  # same name, another cluster: not this one's
        try:
            assert await reap_leftovers(admin, cluster, registry) == [doomed]
            assert set(registry.owners(cluster)) == {*others, names[-1]}
            assert set(registry.owners(other_cluster)) == {names[0]}
            assert await reap_leftovers(admin, cluster, registry) == []  # once per process
        finally:
            await delete_topics(admin, names, timeout=30)
    await wait_until(lambda: _existing(servers, [doomed]), equals=set(), timeout=30)


def test_an_unwritable_cache_dir_is_a_coded_error(tmp_path: Path) -> None:
    from integration_kit.errors import ErrorCode, raises_code

    # A cache_dir that is a file is refused when settings load (IK-CONFIG-UNUSABLE-PATH);
    # a usable one where the registry's file cannot be opened is the registry's own error.
    cache = tmp_path / "cache"
    blocker = cache / "owned.sqlite3"
    blocker.mkdir(parents=True)  # a directory where the database file belongs
    registry = OwnershipRegistry.for_settings(load_settings(cache_dir=cache))
    with raises_code(ErrorCode.CONFIG_REGISTRY_UNUSABLE) as caught:
        registry.record(Cluster("127.0.0.1:1", "c"), ["t"], Owner.current())
    assert str(blocker) in caught[0].message
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH):
        file = tmp_path / "file"
        file.write_text("")
        load_settings(cache_dir=file)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_a_topic_this_process_just_deleted_is_still_its_own_to_recreate(
    ik_kafka: Endpoint, tmp_path: Path
) -> None:
    from integration_kit.errors import ErrorCode, raises_code
    from integration_kit.kafka.ownership import check_not_foreign

    servers = ik_kafka.bootstrap_servers
    name = f"ik.{uuid.uuid4().hex[:12]}.main.orders"
    await _fill(servers, [name])  # still on the broker: as if its deletion were under way
    registry = OwnershipRegistry(tmp_path / REGISTRY_FILE)
    me = Owner.current()
    try:
        async with admin_client(servers) as admin:
            cluster = await cluster_of(admin, servers)
            with raises_code(ErrorCode.KAFKA_TOPIC_FOREIGN):  # not recorded: someone else's
                await check_not_foreign(admin, cluster, [name], owner="TestX", registry=registry)
            registry.record(cluster, [name], me)
            assert await check_not_foreign(admin, cluster, [name], owner="TestX", registry=registry) == []
            registry.forget(cluster, [name], me)  # deletion sent, the broker not done yet
            assert registry.owners(cluster) == {}
            assert await check_not_foreign(admin, cluster, [name], owner="TestX", registry=registry) == [name]
            # another process (a registry object of its own) has no such memory
            other = OwnershipRegistry(tmp_path / REGISTRY_FILE)
            with raises_code(ErrorCode.KAFKA_TOPIC_FOREIGN):
                await check_not_foreign(admin, cluster, [name], owner="TestX", registry=other)
    finally:
        await delete_topics(servers, [name], timeout=30)
