"""Redis clients on a worker's database, opened from an :class:`Endpoint`."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from integration_kit.errors import ErrorCode, RedisError
from integration_kit.services.base import Endpoint


async def open_client(endpoint: Endpoint, *, db: int = 0, **options: Any) -> aioredis.Redis:
    """A ``redis.asyncio.Redis`` on database ``db`` of ``endpoint``, checked with ``PING``.

    A database index the server does not have raises ``IK-REDIS-DB-UNAVAILABLE``.
    ``options`` go to ``redis.asyncio.Redis`` (e.g. ``decode_responses=True``).
    """
    client = aioredis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        username=endpoint.user,
        password=endpoint.password,
        db=db,
        **options,
    )
    try:
        await client.ping()
    except ResponseError as exc:
        await client.aclose()
        if "DB index is out of range" in str(exc):
            raise RedisError(
                ErrorCode.REDIS_DB_UNAVAILABLE,
                url=endpoint.url,
                db=db,
                cause=exc,
            ) from exc
        raise
    except BaseException:
        await client.aclose()
        raise
    return client
