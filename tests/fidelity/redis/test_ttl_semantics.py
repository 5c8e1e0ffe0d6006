"""Expiry semantics, the same assertions on the mock (virtual clock) and on a real Redis.

Deadlines are chosen so that the answers are exact on both sides: relative TTLs are
checked as ranges (a real server spends a few ms between commands), absolute ones
(``PEXPIREAT``/``EXPIRETIME``) exactly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import pytest
from replies import LONG, error_reply  # type: ignore[import-not-found]

pytestmark = pytest.mark.fidelity("expiry: TTL semantics")

if TYPE_CHECKING:
    from conftest import Side

# Each scenario is marked by its side: [mock] unit, [real] integration (see conftest.py).


# --- TTL / PTTL: -2 and -1 ----------------------------------------------------------------


async def test_ttl_of_missing_and_persistent_keys(side: Side) -> None:
    r, k = side.client, side.key("k")
    assert await r.ttl(k) == -2
    assert await r.pttl(k) == -2
    assert await r.expiretime(k) == -2
    assert await r.pexpiretime(k) == -2
    await r.set(k, "v")
    assert await r.ttl(k) == -1
    assert await r.pttl(k) == -1
    assert await r.expiretime(k) == -1
    assert await r.pexpiretime(k) == -1


async def test_key_expires_and_reports_minus_two(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v", px=60)
    assert 0 < await r.pttl(k) <= 60
    assert await r.ttl(k) == 0  # (pttl + 500) // 1000
    await side.elapse(0.12)
    assert await r.get(k) is None
    assert await r.exists(k) == 0
    assert await r.ttl(k) == -2
    assert await r.pttl(k) == -2


async def test_key_with_long_ttl_survives_a_short_wait(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v", ex=LONG)
    await side.elapse(0.05)
    assert await r.get(k) == "v"
    assert LONG - 1 <= await r.ttl(k) <= LONG


# --- EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT with NX, XX, GT, LT --------------------------

Setter = Callable[["Side", str, int, tuple[str, ...]], Awaitable[int]]


async def _expire(side: Side, key: str, seconds: int, opts: tuple[str, ...]) -> int:
    return int(await side.client.execute_command("EXPIRE", key, seconds, *opts))


async def _pexpire(side: Side, key: str, seconds: int, opts: tuple[str, ...]) -> int:
    return int(await side.client.execute_command("PEXPIRE", key, seconds * 1000, *opts))


async def _expireat(side: Side, key: str, seconds: int, opts: tuple[str, ...]) -> int:
    now_s = -(-(await side.now_ms()) // 1000)  # round up: the deadline stays >= seconds away
    return int(await side.client.execute_command("EXPIREAT", key, now_s + seconds, *opts))


async def _pexpireat(side: Side, key: str, seconds: int, opts: tuple[str, ...]) -> int:
    now_ms = await side.now_ms()
    return int(await side.client.execute_command("PEXPIREAT", key, now_ms + seconds * 1000, *opts))


SETTERS: dict[str, Setter] = {
    "EXPIRE": _expire,
    "PEXPIRE": _pexpire,
    "EXPIREAT": _expireat,
    "PEXPIREAT": _pexpireat,
}
setters = pytest.mark.parametrize("setter", list(SETTERS.values()), ids=list(SETTERS))


@setters
async def test_expire_plain(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    assert await setter(side, k, 50, ()) == 0  # missing key
    await r.set(k, "v")
    assert await setter(side, k, 50, ()) == 1
    assert 48 <= await r.ttl(k) <= 51
    assert await setter(side, k, 20, ()) == 1  # plain EXPIRE may shorten
    assert 18 <= await r.ttl(k) <= 21


@setters
async def test_expire_nx(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    assert await setter(side, k, 50, ("NX",)) == 0  # missing key
    await r.set(k, "v")
    assert await setter(side, k, 50, ("NX",)) == 1  # no TTL yet
    assert await setter(side, k, 20, ("NX",)) == 0  # has one
    assert 48 <= await r.ttl(k) <= 51


@setters
async def test_expire_xx(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await setter(side, k, 50, ("XX",)) == 0  # no TTL: not set
    assert await r.ttl(k) == -1
    await r.expire(k, 30)
    assert await setter(side, k, 50, ("XX",)) == 1
    assert 48 <= await r.ttl(k) <= 51


@setters
async def test_expire_gt(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await setter(side, k, 50, ("GT",)) == 0  # no TTL counts as infinite
    assert await r.ttl(k) == -1
    await r.expire(k, 30)
    assert await setter(side, k, 20, ("GT",)) == 0  # shorter
    assert await setter(side, k, 50, ("GT",)) == 1  # longer
    assert 48 <= await r.ttl(k) <= 51


@setters
async def test_expire_lt(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await setter(side, k, 50, ("LT",)) == 1  # no TTL counts as infinite: anything is less
    assert 48 <= await r.ttl(k) <= 51
    assert await setter(side, k, 80, ("LT",)) == 0  # longer
    assert await setter(side, k, 20, ("LT",)) == 1  # shorter
    assert 18 <= await r.ttl(k) <= 21


@setters
async def test_expire_xx_gt_together(side: Side, setter: Setter) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await setter(side, k, 50, ("XX", "GT")) == 0
    await r.expire(k, 30)
    assert await setter(side, k, 50, ("XX", "GT")) == 1
    assert await setter(side, k, 20, ("XX", "LT")) == 1
    assert 18 <= await r.ttl(k) <= 21


async def test_gt_lt_with_an_equal_deadline_do_nothing(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    deadline = await side.now_ms() + LONG * 1000
    assert await r.execute_command("PEXPIREAT", k, deadline) == 1
    assert await r.execute_command("PEXPIREAT", k, deadline, "GT") == 0
    assert await r.execute_command("PEXPIREAT", k, deadline, "LT") == 0
    assert await r.pexpiretime(k) == deadline


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (("NX", "XX"), "NX and XX, GT or LT options at the same time are not compatible"),
        (("NX", "GT"), "NX and XX, GT or LT options at the same time are not compatible"),
        (("NX", "LT"), "NX and XX, GT or LT options at the same time are not compatible"),
        (("GT", "LT"), "GT and LT options at the same time are not compatible"),
        (("FOO",), "Unsupported option FOO"),
    ],
)
@pytest.mark.parametrize("command", ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"])
async def test_expire_option_errors(side: Side, command: str, opts: tuple[str, ...], message: str) -> None:
    k = side.key("k")
    await side.client.set(k, "v")
    error = await error_reply(side.client.execute_command(command, k, 10**12, *opts))
    assert error == message
    assert await side.client.ttl(k) == -1


@pytest.mark.parametrize("command", ["EXPIRE", "PEXPIRE"])
@pytest.mark.parametrize("amount", [0, -5])
async def test_expire_not_in_the_future_deletes_the_key(side: Side, command: str, amount: int) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.execute_command(command, k, amount) == 1
    assert await r.exists(k) == 0
    assert await r.pttl(k) == -2


@pytest.mark.parametrize("command", ["EXPIREAT", "PEXPIREAT"])
async def test_expireat_in_the_past_deletes_the_key(side: Side, command: str) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.execute_command(command, k, 1) == 1
    assert await r.exists(k) == 0


async def test_pexpireat_now_deletes_the_key(side: Side) -> None:
    # expire.c checkAlreadyExpired: a deadline <= now deletes at once (the server's "now"
    # can only be later than the TIME read before, so this is exact on a real server too)
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.execute_command("PEXPIREAT", k, await side.now_ms()) == 1
    assert await r.exists(k) == 0
    await r.set(k, "v")
    assert await r.getex(k, pxat=await side.now_ms()) == "v"
    assert await r.exists(k) == 0


async def test_expire_conditions_are_checked_before_deleting(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.execute_command("EXPIRE", k, 0, "XX") == 0  # no TTL: XX refuses, key stays
    assert await r.get(k) == "v"
    assert await r.execute_command("EXPIRE", k, -1, "GT") == 0
    assert await r.get(k) == "v"
    assert await r.execute_command("EXPIRE", k, -1, "LT") == 1  # infinite > anything: deleted
    assert await r.exists(k) == 0


async def test_expire_on_a_key_that_lapses(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v", px=50)
    await side.elapse(0.1)
    assert await r.expire(k, LONG) == 0  # gone: nothing to expire


# --- EXPIRETIME / PEXPIRETIME: exact, and rounding -------------------------------------


@pytest.mark.parametrize(("extra_ms", "rounds_to"), [(0, 0), (499, 0), (500, 1), (999, 1)])
async def test_expiretime_rounds_half_up(side: Side, extra_ms: int, rounds_to: int) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    base_s = (await side.now_ms()) // 1000 + LONG
    await r.execute_command("PEXPIREAT", k, base_s * 1000 + extra_ms)
    assert await r.pexpiretime(k) == base_s * 1000 + extra_ms
    assert await r.expiretime(k) == base_s + rounds_to


# --- SET with EX / PX / EXAT / PXAT / KEEPTTL ----------------------------------------------


async def test_set_ex_px_exat_pxat(side: Side) -> None:
    r = side.client
    await r.set(side.key("ex"), "v", ex=LONG)
    assert LONG - 1 <= await r.ttl(side.key("ex")) <= LONG
    await r.set(side.key("px"), "v", px=LONG * 1000)
    assert LONG * 1000 - 1000 <= await r.pttl(side.key("px")) <= LONG * 1000
    now_ms = await side.now_ms()
    await r.set(side.key("exat"), "v", exat=now_ms // 1000 + LONG)
    assert await r.expiretime(side.key("exat")) == now_ms // 1000 + LONG
    await r.set(side.key("pxat"), "v", pxat=now_ms + LONG * 1000 + 7)
    assert await r.pexpiretime(side.key("pxat")) == now_ms + LONG * 1000 + 7


async def test_set_without_options_clears_the_ttl_and_keepttl_keeps_it(side: Side) -> None:
    r, k = side.client, side.key("k")
    deadline = await side.now_ms() + LONG * 1000
    await r.set(k, "v1", pxat=deadline)
    await r.set(k, "v2", keepttl=True)
    assert await r.get(k) == "v2"
    assert await r.pexpiretime(k) == deadline
    await r.set(k, "v3")
    assert await r.ttl(k) == -1


async def test_set_in_the_past_leaves_no_key(side: Side) -> None:
    r, k = side.client, side.key("k")
    assert await r.set(k, "v", pxat=1)
    assert await r.get(k) is None
    assert await r.ttl(k) == -2


async def test_set_nx_xx_get_with_ttl(side: Side) -> None:
    r, k = side.client, side.key("k")
    assert await r.set(k, "a", ex=LONG, xx=True) is None
    assert await r.exists(k) == 0
    assert await r.set(k, "a", ex=LONG, nx=True)
    assert await r.set(k, "b", px=50, nx=True) is None
    assert LONG - 1 <= await r.ttl(k) <= LONG
    assert await r.set(k, "c", px=50, get=True) == "a"
    await side.elapse(0.1)
    assert await r.get(k) is None


@pytest.mark.parametrize(
    "args",
    [("EX", "0"), ("PX", "0"), ("EX", "-1"), ("EXAT", "0"), ("PXAT", "-3")],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else a,
)
async def test_set_invalid_expire_time(side: Side, args: tuple[str, ...]) -> None:
    error = await error_reply(side.client.execute_command("SET", side.key("k"), "v", *args))
    assert error == "invalid expire time in 'set' command"
    assert await side.client.exists(side.key("k")) == 0


@pytest.mark.parametrize(
    "args",
    [("EX", "10", "PX", "100"), ("EX", "10", "KEEPTTL"), ("NX", "XX"), ("PXAT", "1", "EXAT", "1")],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else a,
)
async def test_set_conflicting_options(side: Side, args: tuple[str, ...]) -> None:
    error = await error_reply(side.client.execute_command("SET", side.key("k"), "v", *args))
    assert error == "syntax error"


# --- SETEX / PSETEX ---------------------------------------------------------------------


async def test_setex_and_psetex_keep_their_milliseconds(side: Side) -> None:
    r = side.client
    before = await side.now_ms()
    await r.execute_command("SETEX", side.key("s"), LONG, "v")
    await r.execute_command("PSETEX", side.key("p"), 1500, "v")
    after = await side.now_ms()
    assert before + LONG * 1000 <= await r.pexpiretime(side.key("s")) <= after + LONG * 1000
    assert before + 1500 <= await r.pexpiretime(side.key("p")) <= after + 1500


async def test_psetex_expires(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.psetex(k, 60, "v")
    assert await r.get(k) == "v"
    await side.elapse(0.12)
    assert await r.get(k) is None


@pytest.mark.parametrize(("command", "amount"), [("SETEX", 0), ("SETEX", -1), ("PSETEX", 0)])
async def test_setex_invalid_expire_time(side: Side, command: str, amount: int) -> None:
    error = await error_reply(side.client.execute_command(command, side.key("k"), amount, "v"))
    assert error == f"invalid expire time in '{command.lower()}' command"


# --- GETEX ------------------------------------------------------------------------------


async def test_getex_without_options_keeps_the_ttl(side: Side) -> None:
    r, k = side.client, side.key("k")
    deadline = await side.now_ms() + LONG * 1000
    await r.set(k, "v", pxat=deadline)
    assert await r.getex(k) == "v"
    assert await r.pexpiretime(k) == deadline


async def test_getex_ex_px_exat_pxat(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.getex(k, ex=LONG) == "v"
    assert LONG - 1 <= await r.ttl(k) <= LONG
    before = await side.now_ms()
    assert await r.getex(k, px=1500) == "v"
    after = await side.now_ms()
    assert before + 1500 <= await r.pexpiretime(k) <= after + 1500
    deadline = after + LONG * 1000 + 3
    assert await r.getex(k, pxat=deadline) == "v"
    assert await r.pexpiretime(k) == deadline
    assert await r.getex(k, exat=deadline // 1000) == "v"
    assert await r.expiretime(k) == deadline // 1000


async def test_getex_persist(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v", ex=LONG)
    assert await r.getex(k, persist=True) == "v"
    assert await r.ttl(k) == -1
    assert await r.getex(k, persist=True) == "v"  # no TTL: nothing to do
    assert await r.ttl(k) == -1


async def test_getex_px_expires(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.getex(k, px=60) == "v"
    await side.elapse(0.12)
    assert await r.get(k) is None


async def test_getex_pxat_in_the_past_returns_the_value_and_deletes(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v")
    assert await r.getex(k, pxat=1) == "v"
    assert await r.exists(k) == 0


async def test_getex_on_a_missing_key_ignores_its_options(side: Side) -> None:
    r, k = side.client, side.key("missing")
    assert await r.getex(k) is None
    assert await r.execute_command("GETEX", k, "EX", "0") is None
    assert await r.execute_command("GETEX", k, "PERSIST") is None


@pytest.mark.parametrize("args", [("EX", "0"), ("PX", "-1"), ("EXAT", "0")], ids=" ".join)
async def test_getex_invalid_expire_time(side: Side, args: tuple[str, ...]) -> None:
    k = side.key("k")
    await side.client.set(k, "v")
    error = await error_reply(side.client.execute_command("GETEX", k, *args))
    assert error == "invalid expire time in 'getex' command"
    assert await side.client.ttl(k) == -1


@pytest.mark.parametrize(
    "args", [("EX", "10", "PX", "10"), ("PERSIST", "EX", "10"), ("FOO",), ("EX",)], ids=" ".join
)
async def test_getex_syntax_errors(side: Side, args: tuple[str, ...]) -> None:
    k = side.key("k")
    await side.client.set(k, "v")
    assert await error_reply(side.client.execute_command("GETEX", k, *args)) == "syntax error"


async def test_getex_on_a_wrong_type(side: Side) -> None:
    k = side.key("list")
    await side.client.rpush(k, "a")
    error = await error_reply(side.client.getex(k, ex=10))
    assert error.startswith("WRONGTYPE")


# --- PERSIST ----------------------------------------------------------------------------


async def test_persist(side: Side) -> None:
    r, k = side.client, side.key("k")
    assert await r.persist(k) == 0  # missing
    await r.set(k, "v")
    assert await r.persist(k) == 0  # no TTL
    await r.expire(k, LONG)
    assert await r.persist(k) == 1
    assert await r.ttl(k) == -1
    await side.elapse(0.05)
    assert await r.get(k) == "v"


async def test_persisted_key_outlives_its_old_deadline(side: Side) -> None:
    r, k = side.client, side.key("k")
    await r.set(k, "v", px=60)
    assert await r.persist(k) == 1
    await side.elapse(0.12)
    assert await r.get(k) == "v"


# --- TTL travels with the value ---------------------------------------------------------


async def test_rename_keeps_the_ttl_and_overwrite_drops_it(side: Side) -> None:
    r = side.client
    deadline = await side.now_ms() + LONG * 1000
    await r.set(side.key("a"), "v", pxat=deadline)
    await r.rename(side.key("a"), side.key("b"))
    assert await r.pexpiretime(side.key("b")) == deadline
    await r.set(side.key("c"), "w")
    await r.rename(side.key("c"), side.key("b"))
    assert await r.ttl(side.key("b")) == -1


async def test_incr_keeps_the_ttl_and_append_too(side: Side) -> None:
    r, k = side.client, side.key("n")
    deadline = await side.now_ms() + LONG * 1000
    await r.set(k, "1", pxat=deadline)
    await r.incr(k)
    await r.append(k, "0")
    assert await r.get(k) == "20"
    assert await r.pexpiretime(k) == deadline


async def test_expiry_inside_multi_exec(side: Side) -> None:
    r, k = side.client, side.key("k")
    async with r.pipeline(transaction=True) as pipe:
        pipe.set(k, "v", px=60)
        pipe.pttl(k)
        pipe.expire(k, LONG, gt=True)
        pipe.ttl(k)
        _, pttl, extended, ttl = await pipe.execute()
    assert 0 < pttl <= 60
    assert extended == 1
    assert LONG - 1 <= ttl <= LONG
    await side.elapse(0.12)
    assert await r.get(k) == "v"


async def test_expired_keys_leave_scans_and_counts(side: Side) -> None:
    r = side.client
    await r.set(side.key("short"), "v", px=50)
    await r.set(side.key("long"), "v", ex=LONG)
    await side.elapse(0.1)
    keys = sorted([k async for k in r.scan_iter(match=side.prefix + "*")])
    assert keys == [side.key("long")]
    assert await r.exists(side.key("short"), side.key("long")) == 1


# --- hash-field TTLs exist only from Redis 7.4 -----------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("HEXPIRE", "10", "FIELDS", "1", "f"),
        ("HPEXPIRE", "10", "FIELDS", "1", "f"),
        ("HTTL", "FIELDS", "1", "f"),
        ("HPERSIST", "FIELDS", "1", "f"),
    ],
    ids=lambda c: c[0],
)
async def test_hash_field_ttl_follows_the_version(side: Side, command: tuple[str, ...]) -> None:
    k = side.key("h")
    await side.client.hset(k, "f", "v")
    if side.version >= (7, 4):
        assert isinstance(await side.client.execute_command(command[0], k, *command[1:]), list)
    else:
        error = await error_reply(side.client.execute_command(command[0], k, *command[1:]))
        # Redis echoes the name as sent, fakeredis in lower case: compare without case.
        assert error.lower().startswith(f"unknown command '{command[0].lower()}'")
