"""Reset, snapshot/restore with TTLs, and the assertions, on a real Redis and on the mock."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks import MockRedisClient
from integration_kit.redis import RedisKit, SnapshotEntry, build_snapshot, open_client, restore
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration


async def _seed(kit: RedisKit) -> None:
    r, k = kit.client, kit.key
    await r.set(k("plain"), "1")
    await r.set(k("short"), "2", px=60_000)
    await r.set(k("long"), "3", ex=3600)
    await r.hset(k("hash"), mapping={"a": "1", "b": "2"})
    await r.rpush(k("list"), "x", "y", "z")
    await r.sadd(k("set"), "m", "n")
    await r.zadd(k("zset"), {"p": 1.5, "q": 2.5})
    await r.expire(k("hash"), 120)


async def _state(kit: RedisKit) -> dict[bytes, tuple[Any, int]]:
    """Every key of the scope with its value (by type) and PTTL."""
    r = kit.client
    out: dict[bytes, tuple[Any, int]] = {}
    async for key in r.scan_iter(match=kit.prefix + "*" if kit.prefix else None):
        if key == kit.ownership.key.encode():
            continue  # the kit's owner key is not part of the scope's data
        kind = await r.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        value: Any = {
            "string": r.get,
            "hash": r.hgetall,
            "list": lambda k: r.lrange(k, 0, -1),
            "set": r.smembers,
            "zset": lambda k: r.zrange(k, 0, -1, withscores=True),
        }[kind](key)
        out[key] = (await value, await r.pttl(key))
    return out


def _same_state(before: dict[bytes, tuple[Any, int]], after: dict[bytes, tuple[Any, int]]) -> None:
    assert before.keys() == after.keys()
    for key, (value, pttl) in before.items():
        assert after[key][0] == value, key
        if pttl == -1:
            assert after[key][1] == -1, key
        else:  # restored with the PTTL it had at snapshot time, minus the time since
            assert pttl - 5_000 <= after[key][1] <= pttl, key


async def test_reset_empties_the_database_only(kit: RedisKit) -> None:
    await _seed(kit)
    pool_kwargs = kit.client.connection_pool.connection_kwargs
    other_db = (pool_kwargs["db"] % 15) + 1
    other: Any
    if isinstance(kit.client, MockRedisClient):
        other = MockRedisClient(server=kit.client.server, db=other_db)
    else:
        other = aioredis.Redis(host=pool_kwargs["host"], port=pool_kwargs["port"], db=other_db)
    await other.set("ik:layer:other", "kept")
    try:
        await kit.reset()
        assert await kit.client.dbsize() == 0
        assert await other.get("ik:layer:other") == b"kept"
    finally:
        await other.delete("ik:layer:other")
        await other.aclose()


async def test_prefix_reset_removes_only_the_prefix(prefix_kit: RedisKit) -> None:
    r = prefix_kit.client
    await _seed(prefix_kit)
    for i in range(2500):  # more than one SCAN/UNLINK batch
        await r.set(prefix_kit.key(f"many:{i}"), "v")
    await r.set("other:key", "kept")
    await r.set(prefix_kit.prefix.rstrip(":") + "X", "kept too")  # shares the prefix minus its colon
    await prefix_kit.reset()
    assert sorted(await r.keys("*")) == sorted([b"other:key", (prefix_kit.prefix.rstrip(":") + "X").encode()])


@pytest.mark.parametrize("isolation", ["db", "prefix"])
async def test_snapshot_restore_round_trip(kit: RedisKit, prefix_kit: RedisKit, isolation: str) -> None:
    if isolation == "db":
        await prefix_kit.release()  # its owner key would be a key of the db-mode scope
    scope = kit if isolation == "db" else prefix_kit
    r, k = scope.client, scope.key
    await _seed(scope)
    before = await _state(scope)
    snapshot = await scope.snapshot()
    assert len(snapshot.entries) == 7
    # the test changes everything it can
    await r.delete(k("plain"))
    await r.set(k("short"), "changed")  # drops the TTL
    await r.persist(k("long"))
    await r.hset(k("hash"), "c", "3")
    await r.lpop(k("list"))
    await r.srem(k("set"), "m")
    await r.zadd(k("zset"), {"p": 9})
    await r.set(k("new"), "x", ex=5)
    await scope.restore()
    _same_state(before, await _state(scope))
    # a second restore starts from the same state again
    await r.set(k("new2"), "y")
    await scope.restore()
    _same_state(before, await _state(scope))


async def test_restore_is_one_round_trip(kit: RedisKit) -> None:
    await _seed(kit)
    snapshot = await kit.snapshot()
    pool = kit.client.connection_pool
    sent: list[int] = []
    original = pool.get_connection

    async def counting_get_connection(*args: Any, **kwargs: Any) -> Any:
        connection = await original(*args, **kwargs)
        send = connection.send_packed_command

        async def counted(command: Any, *a: Any, **kw: Any) -> None:
            sent.append(1)
            await send(command, *a, **kw)

        connection.send_packed_command = counted  # type: ignore[method-assign]
        return connection

    pool.get_connection = counting_get_connection  # type: ignore[method-assign]
    try:
        await kit.restore(snapshot)
    finally:
        pool.get_connection = original  # type: ignore[method-assign]
        for connection in pool._available_connections:
            connection.__dict__.pop("send_packed_command", None)
    assert sent == [1]
    assert await kit.client.dbsize() == 7


async def test_snapshot_of_an_empty_scope_restores_to_empty(kit: RedisKit) -> None:
    snapshot = await kit.snapshot()
    assert snapshot.entries == ()
    await kit.client.set("stray", "x")
    await kit.restore()
    assert await kit.client.dbsize() == 0


async def test_restore_without_snapshot_resets(kit: RedisKit) -> None:
    await kit.client.set("stray", "x")
    await kit.restore()
    assert await kit.client.dbsize() == 0


async def test_a_failing_restore_is_coded_and_leaves_the_client_usable(kit: RedisKit) -> None:
    bad = build_snapshot(kit.client, [SnapshotEntry(key=b"k", pttl=-1, payload=b"not a dump payload")])
    with raises_code(ErrorCode.REDIS_RESTORE_FAILED) as caught:
        await restore(kit.client, bad)
    assert caught[0].context["failed"] == 1
    assert caught[0].context["total"] == 2
    assert await kit.client.ping()
    assert await kit.client.exists("k") == 0


async def test_snapshot_keeps_a_key_at_its_last_millisecond_volatile(kit: RedisKit) -> None:
    snapshot = build_snapshot(kit.client, [SnapshotEntry(key=b"k", pttl=0, payload=await _dump(kit, "k"))])
    assert b"RESTORE" in b"".join(bytes(part) for part in snapshot._packed)
    await restore(kit.client, snapshot)
    assert await kit.client.pttl("k") in (0, 1, -2)  # 1 ms left, never "no expiry"


async def _dump(kit: RedisKit, key: str) -> bytes:
    await kit.client.set(key, "v")
    payload = await kit.client.dump(key)
    await kit.client.delete(key)
    assert payload is not None
    return payload


# --- assertions -----------------------------------------------------------------------


async def test_assert_ttl(kit: RedisKit) -> None:
    r = kit.client
    await r.set("k", "v", ex=30)
    assert 29 <= await kit.assert_ttl("k", between=(29, 30)) <= 30
    with raises_code(ErrorCode.REDIS_TTL_MISMATCH) as caught:
        await kit.assert_ttl("k", between=(40, 60))
    assert caught[0].context["key"] == "k"
    assert caught[0].context["lo"] == 40.0
    await r.set("forever", "v")
    with raises_code(ErrorCode.REDIS_TTL_MISMATCH) as caught:
        await kit.assert_ttl("forever", between=(0, 10**9))
    assert caught[0].context["ttl"].startswith("-1")
    with raises_code(ErrorCode.REDIS_TTL_MISMATCH) as caught:
        await kit.assert_ttl("missing", between=(0, 10))
    assert caught[0].context["ttl"].startswith("-2")


@pytest.mark.parametrize("between", [(5, 1), (-1, 5), ("a", 3), (1,), None, (0, float("inf"))])
async def test_assert_ttl_rejects_bad_ranges(kit: RedisKit, between: Any) -> None:
    with raises_code(ErrorCode.REDIS_INVALID_ARGUMENT):
        await kit.assert_ttl("k", between=between)


async def test_assert_no_key(kit: RedisKit) -> None:
    await kit.assert_no_key("a", "b")
    await kit.client.set("b", "v")
    with raises_code(ErrorCode.REDIS_KEY_EXISTS) as caught:
        await kit.assert_no_key("a", "b", "c")
    assert caught[0].context["key"] == "b"
    with raises_code(ErrorCode.REDIS_INVALID_ARGUMENT):
        await kit.assert_no_key()


async def test_unknown_isolation_is_refused(kit: RedisKit) -> None:
    with raises_code(ErrorCode.REDIS_INVALID_ARGUMENT):
        RedisKit(kit.client, isolation="cluster")


# --- connecting (real server only) -----------------------------------------------------


async def test_a_database_the_server_lacks_is_coded(endpoint: Endpoint) -> None:
    with raises_code(ErrorCode.REDIS_DB_UNAVAILABLE) as caught:
        await open_client(endpoint, db=999)
    assert caught[0].context["db"] == 999


async def test_open_uses_the_namespace_database(endpoint: Endpoint) -> None:
    from integration_kit.services.namespace import Namespace

    kit = await RedisKit.open(endpoint, namespace=Namespace("gw12"), isolation="db")
    try:
        assert kit.client.connection_pool.connection_kwargs["db"] == Namespace("gw12").redis_db
        assert kit.key("x") == "x"
    finally:
        await kit.aclose()
    kit = await RedisKit.open(endpoint, namespace=Namespace("gw12"), isolation="prefix")
    try:
        assert kit.key("x") == "ik:gw12:x"
    finally:
        await kit.aclose()
