"""MockRedisClient / MockRedisSyncClient: drop-in, isolated, on their own clocks.

Behaviour shared with a real Redis is pinned by tests/fidelity/redis; here are the
parts only a virtual clock can reach (exact instants) and the mock's own contract.
"""

from __future__ import annotations

import fakeredis
import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks import MockRedisClient, MockRedisServer, MockRedisSyncClient, VirtualClock
from integration_kit.mocks.redis import DEFAULT_VERSION, parse_version

pytestmark = pytest.mark.unit

T0 = 1_700_000_000.0


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=T0)


@pytest.fixture
async def r(clock: VirtualClock) -> MockRedisClient:
    client = MockRedisClient(clock=clock, decode_responses=True)
    yield client
    await client.aclose()


async def test_is_a_drop_in_for_redis_py(r: MockRedisClient) -> None:
    assert isinstance(r, aioredis.Redis)
    sync = MockRedisSyncClient()
    assert isinstance(sync, redis.Redis)
    assert await r.set("k", "v")
    assert await r.get("k") == "v"
    assert sync.set("k", "v") and sync.get("k") == b"v"


async def test_instances_are_isolated_by_default() -> None:
    a, b = MockRedisClient(), MockRedisClient()
    await a.set("k", "a")
    assert await b.get("k") is None
    # plain fakeredis clients of the same host share one hidden server; ours never do
    c, d = MockRedisClient(host="x"), MockRedisClient(host="x")
    await c.set("k", "c")
    assert await d.get("k") is None
    for client in (a, b, c, d):
        await client.aclose()


async def test_a_shared_server_is_explicit(clock: VirtualClock) -> None:
    server = MockRedisServer(clock=clock)
    a = MockRedisClient(server=server)
    s = MockRedisSyncClient(server=server)
    await a.set("k", "v", ex=10)
    assert s.get("k") == b"v"
    assert a.clock is clock and s.clock is clock
    clock.advance(10.001)
    assert s.get("k") is None
    await a.aclose()


async def test_key_lives_through_its_deadline_millisecond(r: MockRedisClient, clock: VirtualClock) -> None:
    # Redis: a key is expired when now > deadline (keyIsExpired), so at the deadline it lives.
    await r.set("k", "v", px=100)
    clock.advance(0.1)
    assert await r.pttl("k") == 0
    assert await r.ttl("k") == 0
    assert await r.get("k") == "v"
    clock.advance(0.001)
    assert await r.get("k") is None
    assert await r.pttl("k") == -2


@pytest.mark.parametrize(("left_ms", "ttl"), [(2500, 3), (2499, 2), (1500, 2), (500, 1), (499, 0), (1, 0)])
async def test_ttl_rounds_half_up(r: MockRedisClient, clock: VirtualClock, left_ms: int, ttl: int) -> None:
    # db.c ttlGenericCommand: (ttl + 500) / 1000 (Python's round() would give 2 for 2500 ms)
    await r.set("k", "v", ex=10)
    clock.advance((10_000 - left_ms) / 1000)
    assert await r.pttl("k") == left_ms
    assert await r.ttl("k") == ttl


async def test_setex_psetex_getex_keep_milliseconds(r: MockRedisClient, clock: VirtualClock) -> None:
    clock.advance(0.7)  # fakeredis truncates these deadlines to whole seconds
    await r.execute_command("SETEX", "s", 10, "v")
    await r.psetex("p", 1500, "v")
    await r.set("g", "v")
    await r.getex("g", px=1500)
    now = clock.time_ms()
    assert await r.pexpiretime("s") == now + 10_000
    assert await r.pexpiretime("p") == now + 1500
    assert await r.pexpiretime("g") == now + 1500


async def test_expire_at_now_deletes_but_set_at_now_lives(r: MockRedisClient, clock: VirtualClock) -> None:
    now = clock.time_ms()
    await r.set("a", "v")
    assert await r.pexpireat("a", now) == 1  # expire.c checkAlreadyExpired: when <= now deletes
    assert await r.exists("a") == 0
    await r.set("b", "v", pxat=now)  # SET stores the deadline; the key lives until now > deadline
    assert await r.pttl("b") == 0
    clock.advance(0.001)
    assert await r.exists("b") == 0


async def test_time_command_reads_the_clock(r: MockRedisClient, clock: VirtualClock) -> None:
    clock.advance(0.25)
    assert await r.time() == (int(T0), 250_000)


async def test_mocks_on_different_clocks_do_not_interfere() -> None:
    c1, c2 = VirtualClock(start=T0), VirtualClock(start=T0 + 1_000_000)
    r1, r2 = MockRedisClient(clock=c1), MockRedisClient(clock=c2)
    await r1.set("k", "v", ex=5)
    await r2.set("k", "v", ex=5)
    await r1.hset("h", "f", "v")
    c2.advance(6)
    assert await r1.get("k") == b"v"
    assert await r2.get("k") is None
    assert await r1.pexpiretime("k") == int(T0 * 1000) + 5000
    await r1.aclose()
    await r2.aclose()


async def test_without_a_virtual_clock_it_follows_real_time() -> None:
    import time

    r = MockRedisClient()
    before = time.time_ns() // 1_000_000
    await r.set("k", "v", ex=100)
    after = time.time_ns() // 1_000_000
    assert before + 100_000 <= await r.pexpiretime("k") <= after + 100_000
    await r.aclose()


async def test_restore_with_ttl_uses_the_clock(r: MockRedisClient, clock: VirtualClock) -> None:
    await r.set("k", "v")
    payload = await MockRedisClient(server=r.server).dump("k")
    await r.restore("k2", 1500, payload)
    clock.advance(1.5)
    assert await r.get("k2") == "v"
    clock.advance(0.001)
    assert await r.get("k2") is None


async def test_sync_client_expires_on_its_clock(clock: VirtualClock) -> None:
    s = MockRedisSyncClient(clock=clock)
    s.set("k", "v", px=300)
    assert s.pttl("k") == 300
    clock.advance(0.301)
    assert s.get("k") is None
    assert s.ttl("k") == -2


# --- hash-field TTLs (7.4+) --------------------------------------------------------------


async def test_hash_fields_expire_on_the_clock(clock: VirtualClock) -> None:
    r = MockRedisClient(clock=clock, version="7.4", decode_responses=True)
    await r.hset("h", mapping={"a": "1", "b": "2"})
    assert await r.hexpire("h", 10, "a") == [1]
    assert await r.hexpire("h", 10, "missing") == [-2]
    assert await r.httl("h", "a", "b") == [10, -1]
    clock.advance(10)
    assert await r.hget("h", "a") == "1"
    clock.advance(0.001)
    assert await r.hgetall("h") == {"b": "2"}
    await r.aclose()


async def test_hash_field_ttl_rounds_up_like_redis(clock: VirtualClock) -> None:
    # t_hash.c httlGenericCommand: (expire + 999 - now) / 1000; HEXPIRETIME (expire + 999) / 1000
    r = MockRedisClient(clock=clock, version="7.4")
    await r.hset("h", "a", "1")
    await r.hpexpire("h", 2001, "a")
    assert await r.httl("h", "a") == [3]
    assert await r.hpttl("h", "a") == [2001]
    assert await r.hexpiretime("h", "a") == [(clock.time_ms() + 2001 + 999) // 1000]
    clock.advance(2)
    assert await r.httl("h", "a") == [1]
    await r.aclose()


async def test_hash_field_conditions_and_persist(clock: VirtualClock) -> None:
    r = MockRedisClient(clock=clock, version="7.4")
    await r.hset("h", "a", "1")
    assert await r.hexpire("h", 10, "a", xx=True) == [0]
    assert await r.hexpire("h", 10, "a", nx=True) == [1]
    assert await r.hexpire("h", 5, "a", gt=True) == [0]
    assert await r.hexpire("h", 5, "a", lt=True) == [1]
    assert await r.hpersist("h", "a") == [1]
    assert await r.httl("h", "a") == [-1]
    assert await r.hexpire("h", 0, "a") == [2]  # deadline not in the future: field deleted
    assert await r.exists("h") == 0
    await r.aclose()


@pytest.mark.parametrize(
    ("version", "command", "exists"),
    [
        ("7.0", ("HEXPIRE", "h", "10", "FIELDS", "1", "f"), False),
        ("7.2", ("HTTL", "h", "FIELDS", "1", "f"), False),
        ("7.4", ("HTTL", "h", "FIELDS", "1", "f"), True),
        ("7.4", ("HGETEX", "h", "FIELDS", "1", "f"), False),
        ("8.0", ("HGETEX", "h", "FIELDS", "1", "f"), True),
    ],
)
async def test_commands_follow_the_declared_version(
    version: str, command: tuple[str, ...], exists: bool
) -> None:
    r = MockRedisClient(version=version)
    await r.hset("h", "f", "v")
    if exists:
        await r.execute_command(*command)
    else:
        with pytest.raises(ResponseError, match="unknown command"):
            await r.execute_command(*command)
    await r.aclose()


def test_default_version_has_hash_field_ttls() -> None:
    assert MockRedisServer().version == DEFAULT_VERSION >= (7, 4)


async def test_plain_fakeredis_keeps_real_time() -> None:
    """The time hook is per command of a mock: other fakeredis clients still see real time."""
    plain = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(version=(7, 4)))
    clock = VirtualClock(start=1000.0)  # far in the past
    mock = MockRedisClient(clock=clock)
    await mock.hset("h", "f", "v")
    await mock.hexpire("h", 100, "f")
    await plain.hset("h", "f", "v")
    await plain.hexpire("h", 100, "f")
    assert 99 <= (await plain.httl("h", "f"))[0] <= 100
    assert await mock.hpexpiretime("h", "f") == [1_000_000 + 100_000]
    await plain.aclose()
    await mock.aclose()


# --- misuse ---------------------------------------------------------------------------


def test_a_plain_fakeserver_is_refused() -> None:
    with raises_code(ErrorCode.MOCK_FOREIGN_SERVER):
        MockRedisClient(server=fakeredis.FakeServer())  # type: ignore[arg-type]
    with raises_code(ErrorCode.MOCK_FOREIGN_SERVER):
        MockRedisSyncClient(server=fakeredis.FakeServer())  # type: ignore[arg-type]


def test_a_second_clock_for_a_shared_server_is_refused(clock: VirtualClock) -> None:
    server = MockRedisServer(clock=clock)
    MockRedisClient(server=server, clock=clock)  # the same clock is fine
    with raises_code(ErrorCode.MOCK_CLOCK_CONFLICT):
        MockRedisClient(server=server, clock=VirtualClock())


def test_a_version_other_than_the_shared_servers_is_refused() -> None:
    server = MockRedisServer(version="7.0")
    MockRedisSyncClient(server=server, version=(7, 0))
    with raises_code(ErrorCode.MOCK_UNSUPPORTED_VERSION):
        MockRedisSyncClient(server=server, version="7.4")


@pytest.mark.parametrize("bad", ["seven", "7.x", 5, (5, 0), [7, 0], None, 7.4])
def test_bad_versions_are_refused(bad: object) -> None:
    with raises_code(ErrorCode.MOCK_UNSUPPORTED_VERSION):
        MockRedisServer(version=bad)


@pytest.mark.parametrize(
    ("given", "parsed"), [("7.4", (7, 4)), ("7.0.15", (7, 0, 15)), (8, (8,)), ((7, 2), (7, 2))]
)
def test_versions_parse(given: object, parsed: tuple[int, ...]) -> None:
    assert parse_version(given) == parsed
