"""Redis layer fixtures: the same helpers over a real Redis and over the mock.

The real side needs ``INTEGRATION_KIT_REDIS_URL`` and uses the database of namespace
``gw{10+N}`` (11, 12... for worker N), away from the databases tests of the kit's users get.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis_layer_helpers import layer_namespace, redis_endpoint

from integration_kit.mocks import MockRedisClient, VirtualClock
from integration_kit.redis import RedisKit
from integration_kit.services.base import Endpoint


@pytest.fixture
def endpoint() -> Endpoint:
    return redis_endpoint()


@pytest.fixture(params=["mock", "real"])
async def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _kit(backend: str, isolation: str) -> RedisKit:
    if backend == "mock":
        client = MockRedisClient(clock=VirtualClock(), version="7.0")
        return RedisKit(client, isolation=isolation, prefix=layer_namespace().key_prefix)
    return await RedisKit.open(redis_endpoint(), namespace=layer_namespace(), isolation=isolation)


@pytest.fixture
async def kit(backend: str) -> AsyncIterator[RedisKit]:
    """A ``db``-isolated kit, empty at the start and emptied at the end."""
    kit = await _kit(backend, "db")
    await kit.reset()
    yield kit
    await kit.reset()
    await kit.aclose()


@pytest.fixture
async def prefix_kit(backend: str) -> AsyncIterator[RedisKit]:
    """A ``prefix``-isolated kit on the same database as :func:`kit` would use."""
    kit = await _kit(backend, "prefix")
    if backend == "real":
        await kit.aclose()
        endpoint = redis_endpoint()
        db = layer_namespace().redis_db
        kit = await RedisKit.open(
            Endpoint(host=endpoint.host, port=endpoint.port, password=endpoint.password, database=str(db)),
            namespace=layer_namespace(),
            isolation="prefix",
        )
    await kit.client.flushdb()
    yield kit
    await kit.client.flushdb()
    await kit.aclose()
