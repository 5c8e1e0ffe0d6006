"""Assertions on Redis keys: TTLs within a range, keys that must not exist."""

from __future__ import annotations

import math
from collections.abc import Iterable

import redis.asyncio as aioredis

from integration_kit.errors import ErrorCode, RedisError

KeyT = str | bytes


def _check_between(between: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = between
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError) as exc:
        raise RedisError(
            ErrorCode.REDIS_INVALID_ARGUMENT,
            argument="between",
            value=between,
            expected="a pair (lo, hi) of seconds with 0 <= lo <= hi",
        ) from exc
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or lo > hi:
        raise RedisError(
            ErrorCode.REDIS_INVALID_ARGUMENT,
            argument="between",
            value=between,
            expected="a pair (lo, hi) of seconds with 0 <= lo <= hi",
        )
    return lo, hi


def _describe(pttl: int) -> str:
    if pttl == -2:
        return "-2 (no such key)"
    if pttl == -1:
        return "-1 (no expiry)"
    return f"{pttl / 1000:g}s"


async def assert_ttl(client: aioredis.Redis, key: KeyT, *, between: tuple[float, float]) -> float:
    """Check that ``key`` exists and expires in ``lo <= TTL <= hi`` seconds (millisecond precision).

    Returns the TTL in seconds. A missing key, a key without expiry or a TTL outside the
    range raises ``IK-REDIS-TTL-MISMATCH``.
    """
    lo, hi = _check_between(between)
    pttl = int(await client.pttl(key))
    seconds = pttl / 1000
    if pttl < 0 or not lo <= seconds <= hi:
        raise RedisError(ErrorCode.REDIS_TTL_MISMATCH, key=key, ttl=_describe(pttl), lo=lo, hi=hi)
    return seconds


async def assert_no_key(client: aioredis.Redis, *keys: KeyT) -> None:
    """Check that none of ``keys`` exists; the first that does raises ``IK-REDIS-KEY-EXISTS``."""
    if not keys:
        raise RedisError(
            ErrorCode.REDIS_INVALID_ARGUMENT, argument="keys", value=keys, expected="at least one key"
        )
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.exists(key)
        found: Iterable[int] = await pipe.execute()
    for key, count in zip(keys, found, strict=True):
        if count:
            raise RedisError(ErrorCode.REDIS_KEY_EXISTS, key=key)
