"""The kit empties only a Redis scope it owns; someone else's keys survive byte for byte."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis_layer_helpers import layer_namespace

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.redis import RedisKit
from integration_kit.redis.ownership import OWNER_KEY, owner_key
from integration_kit.services.base import Endpoint
from integration_kit.services.ownership import Owner


@pytest.fixture
async def raw(ik_redis: Endpoint) -> AsyncIterator[aioredis.Redis]:
    """A plain client on the layer's database, emptied before and after."""
    client = aioredis.Redis(
        host=ik_redis.host, port=ik_redis.port, password=ik_redis.password, db=layer_namespace().redis_db
    )
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def _dump(client: aioredis.Redis) -> dict[bytes, bytes]:
    """Every key of the database with its DUMP payload (contents, not counts)."""
    return {key: await client.dump(key) async for key in client.scan_iter()}


async def _kit(endpoint: Endpoint, isolation: str = "db") -> RedisKit:
    if isolation == "prefix":
        endpoint = dataclasses.replace(endpoint, database=str(layer_namespace().redis_db))
    return await RedisKit.open(endpoint, namespace=layer_namespace(), isolation=isolation)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def _fill(client: aioredis.Redis, prefix: str = "") -> dict[bytes, bytes]:
    await client.set(prefix + "user:1", b"\x00\xffbinary")
    await client.hset(prefix + "user:hash", mapping={"a": "1"})
    await client.set(prefix + "ttl", "v", ex=300)
    return await _dump(client)


@pytest.mark.parametrize("isolation", ["db", "prefix"])
async def test_foreign_keys_are_refused_and_kept(
    ik_redis: Endpoint, raw: aioredis.Redis, isolation: str
) -> None:
    kit = await _kit(ik_redis, isolation)
    before = await _fill(raw, kit.prefix)
    try:
        for action in (kit.claim, kit.reset, kit.restore):
            with raises_code(ErrorCode.REDIS_DB_FOREIGN) as caught:
                await action()
        await kit.release()  # never claimed: deletes nothing
        assert str(layer_namespace().redis_db) in caught[0].message
        assert await _dump(raw) == before
    finally:
        await kit.aclose()


@pytest.mark.parametrize(
    "owner",
    [
        Owner(run_id="other", host="another-machine", pid=1, pid_start="1"),  # another host: alive
        dataclasses.replace(Owner.current(), run_id="live", pid=os.getppid(), pid_start=None),  # a live pid
    ],
    ids=["other-host", "live-pid"],
)
async def test_another_owners_key_is_refused(ik_redis: Endpoint, raw: aioredis.Redis, owner: Owner) -> None:
    await raw.set(OWNER_KEY, owner.text)
    before = await _dump(raw)
    kit = await _kit(ik_redis)
    try:
        with raises_code(ErrorCode.REDIS_DB_FOREIGN):
            await kit.reset()
        assert await _dump(raw) == before
    finally:
        await kit.aclose()


async def test_a_malformed_owner_key_is_refused(ik_redis: Endpoint, raw: aioredis.Redis) -> None:
    await raw.set(OWNER_KEY, "run=x host=y pid=notanumber")
    kit = await _kit(ik_redis)
    try:
        with raises_code(ErrorCode.REDIS_DB_FOREIGN):
            await kit.claim()
        assert await raw.get(OWNER_KEY) == b"run=x host=y pid=notanumber"
    finally:
        await kit.aclose()


@pytest.mark.parametrize("isolation", ["db", "prefix"])
async def test_a_dead_runs_scope_is_reclaimed(
    ik_redis: Endpoint, raw: aioredis.Redis, isolation: str
) -> None:
    dead = dataclasses.replace(Owner.current(), run_id="dead", pid=_dead_pid())
    assert not dead.alive()
    kit = await _kit(ik_redis, isolation)
    key = owner_key(kit.prefix if isolation == "prefix" else None)
    outside: dict[bytes, bytes] = {}
    if isolation == "prefix":  # someone's key next to the prefix: not the scope's
        await raw.set("outside:the:prefix", "kept")
        outside = await _dump(raw)
    await raw.set(key, dead.text)
    await raw.set(kit.key("left:by:dead:run"), "x")
    try:
        await kit.claim()
        assert await _dump(raw) == {**outside, key.encode(): await raw.dump(key)}
        assert Owner.parse(await raw.get(key)) == Owner.current()
    finally:
        await kit.release()
        await kit.aclose()
    assert await _dump(raw) == outside


async def test_a_takeover_loses_to_an_owner_key_written_meanwhile(
    ik_redis: Endpoint, raw: aioredis.Redis
) -> None:
    dead = dataclasses.replace(Owner.current(), run_id="dead", pid=_dead_pid())
    await raw.set(OWNER_KEY, dead.text)
    kit = await _kit(ik_redis)
    try:
        other = Owner(run_id="other", host="another-machine", pid=1, pid_start="1")
        await raw.set(OWNER_KEY, other.text)  # another run took it between our read and our write
        await raw.set("theirs", "data")
        before = await _dump(raw)
        assert not await kit.ownership.take_over(dead.text.encode(), keep=True)
        assert await _dump(raw) == before
    finally:
        await kit.aclose()


async def test_declared_databases_a_dead_run_left_marked_are_emptied_and_nothing_else(
    ik_redis: Endpoint, raw: aioredis.Redis
) -> None:
    from integration_kit.redis.ownership import reap_dead_databases

    here = Owner.current()
    dead = dataclasses.replace(here, run_id="dead", pid=_dead_pid())
    mine = layer_namespace().redis_db
    await raw.set(OWNER_KEY, dead.text)
    await raw.set("left:by:dead:run", "x")
    marked = {
        14: dataclasses.replace(here, run_id="live", pid=os.getppid(), pid_start=None),  # a live run
        15: dataclasses.replace(dead, host="another-host"),  # a dump from another machine
    }
    clients = {
        db: aioredis.Redis(host=ik_redis.host, port=ik_redis.port, password=ik_redis.password, db=db)
        for db in marked
    }
    try:
        for db, owner in marked.items():
            await clients[db].set(OWNER_KEY, owner.text)
            await clients[db].set(f"data:{db}", "kept")
        before = {db: await _dump(client) for db, client in clients.items()}
        emptied = await reap_dead_databases(ik_redis, (mine, 14, 15, 999))  # 999: not on the server
        assert emptied == [mine]
        assert await _dump(raw) == {}
        assert {db: await _dump(client) for db, client in clients.items()} == before
        assert await reap_dead_databases(ik_redis, (mine, 14, 15, 999)) == []  # once per process
    finally:
        for db, client in clients.items():
            await client.delete(OWNER_KEY, f"data:{db}")
            await client.aclose()


async def test_a_scope_taken_during_a_test_is_never_reset(ik_redis: Endpoint, raw: aioredis.Redis) -> None:
    kit = await _kit(ik_redis)
    try:
        await kit.claim()
        await kit.reset()  # a test starts: the owner key is gone while it runs
        other = Owner(run_id="other", host="another-machine", pid=1, pid_start="1")
        await raw.set(OWNER_KEY, other.text)  # another run found it empty and took it
        await raw.set("theirs", "data")
        before = await _dump(raw)
        await kit.mark()  # after the test: notices the takeover
        for action in (kit.reset, kit.restore, kit.release):
            with raises_code(ErrorCode.REDIS_DB_FOREIGN):
                await action()
        assert await _dump(raw) == before
    finally:
        await kit.aclose()


@pytest.mark.parametrize("isolation", ["db", "prefix"])
async def test_release_leaves_nothing_of_the_kit(
    ik_redis: Endpoint, raw: aioredis.Redis, isolation: str
) -> None:
    kit = await _kit(ik_redis, isolation)
    outside = {}
    if isolation == "prefix":
        await raw.set(kit.prefix.rstrip(":") + "X", "kept")  # shares the prefix minus its colon
        outside = await _dump(raw)
    try:
        await kit.claim()
        await kit.reset()
        await kit.client.set(kit.key("written"), "by a test")
        await kit.mark()
        await kit.release()
        assert await _dump(raw) == outside
    finally:
        await kit.aclose()


async def test_keys_of_a_run_killed_during_a_test_are_the_kits_only_where_the_registry_says_so(
    ik_redis: Endpoint, raw: aioredis.Redis, tmp_path: Path
) -> None:
    from integration_kit.redis.ownership import RedisServer, server_of
    from integration_kit.services.registry import REGISTRY_FILE, OwnershipRegistry

    registry = OwnershipRegistry(tmp_path / REGISTRY_FILE)
    here = Owner.current()
    dead = dataclasses.replace(here, run_id="dead", pid=_dead_pid())
    server = await server_of(raw, ik_redis.address)
    assert server.run_id != "unknown"
    name = f"db{layer_namespace().redis_db}"
    before = await _fill(raw)  # a test's keys; the owner key was absent while it ran

    async def claim_with(owner: Owner | None, place: RedisServer = server) -> None:
        registry.forget(server, [name], dead)
        if owner is not None:
            registry.record(place, [name], owner)
        kit = await RedisKit.open(ik_redis, namespace=layer_namespace(), registry=registry)
        try:
            await kit.claim()
        finally:
            await kit.aclose()

    refused = {
        "no row": None,
        "a live run's row": dataclasses.replace(here, run_id="live", pid=os.getppid(), pid_start=None),
        "another host's row": dataclasses.replace(dead, host="another-host"),
    }
    for case, owner in refused.items():
        with raises_code(ErrorCode.REDIS_DB_FOREIGN):
            await claim_with(owner)
        assert await _dump(raw) == before, case
    with raises_code(ErrorCode.REDIS_DB_FOREIGN):  # a row of an earlier instance of the server
        await claim_with(dead, RedisServer(ik_redis.address, "an-earlier-run-id"))
    assert await _dump(raw) == before
    # the dead run of this host recorded its claim: its keys go, the scope is taken and recorded
    kit = await RedisKit.open(ik_redis, namespace=layer_namespace(), registry=registry)
    try:
        registry.record(server, [name], dead)
        await kit.claim()
        assert await _dump(raw) == {OWNER_KEY.encode(): await raw.dump(OWNER_KEY)}
        assert registry.owners(server) == {name: here}
        await kit.release()
        assert registry.owners(server) == {} and await _dump(raw) == {}
    finally:
        await kit.aclose()
