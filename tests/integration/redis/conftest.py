"""Redis layer fixtures: the same helpers over a real Redis and over the mock.

The real side is the run's Redis (``ik_redis``: INTEGRATION_KIT_REDIS_URL, else a docker or
local Redis the kit starts; skipped when none can run) and uses the database of namespace
``gw{10+N}`` (11, 12... for worker N), away from the databases tests of the kit's users get.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis_layer_helpers import layer_namespace

from integration_kit.mocks import MockRedisClient, VirtualClock
from integration_kit.redis import RedisKit
from integration_kit.services.base import Endpoint


@pytest.fixture
def endpoint(ik_redis: Endpoint) -> Endpoint:
    """The run's Redis, started by the kit (INTEGRATION_KIT_REDIS_URL, docker or local)."""
    return ik_redis


@pytest.fixture(params=["mock", "real"])
async def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _kit(backend: str, isolation: str, request: pytest.FixtureRequest) -> RedisKit:
    if backend == "mock":
        client = MockRedisClient(clock=VirtualClock(), version="7.0")
        return RedisKit(client, isolation=isolation, prefix=layer_namespace().key_prefix)
    endpoint: Endpoint = request.getfixturevalue("ik_redis")
    if isolation == "prefix":  # the prefix lives on the database the db-mode tests use
        endpoint = Endpoint(
            host=endpoint.host,
            port=endpoint.port,
            user=endpoint.user,
            password=endpoint.password,
            database=str(layer_namespace().redis_db),
        )
    return await RedisKit.open(endpoint, namespace=layer_namespace(), isolation=isolation)


@pytest.fixture
async def kit(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[RedisKit]:
    """A ``db``-isolated kit, empty at the start and emptied at the end."""
    kit = await _kit(backend, "db", request)
    await kit.reset()
    yield kit
    await kit.reset()
    await kit.aclose()


@pytest.fixture
async def prefix_kit(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[RedisKit]:
    """A ``prefix``-isolated kit on the same database as :func:`kit` would use."""
    kit = await _kit(backend, "prefix", request)
    await kit.client.flushdb()
    await kit.claim()  # the kit resets only a scope it claimed (empty here)
    yield kit
    await kit.client.flushdb()
    await kit.aclose()
