"""The Redis cache of orders the worker has decided: ``order:<id>`` with a TTL."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from orders.domain import Reservation


def order_key(order_id: int) -> str:
    return f"order:{order_id}"


async def cache_order(redis: aioredis.Redis, reservation: Reservation, *, ttl_s: int) -> None:
    await redis.set(order_key(reservation.order_id), json.dumps(reservation.confirmed_event()), ex=ttl_s)


async def cached_order(redis: aioredis.Redis, order_id: int) -> dict[str, Any] | None:
    raw = await redis.get(order_key(order_id))
    return json.loads(raw) if raw is not None else None
