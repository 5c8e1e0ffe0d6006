"""In-process stand-ins for unit tests: Redis with a virtual clock (and, from the Kafka half, Kafka)."""

from integration_kit.mocks.clock import Clock, SystemClock, VirtualClock
from integration_kit.mocks.redis import MockRedisClient, MockRedisServer, MockRedisSyncClient

__all__ = [
    "Clock",
    "MockRedisClient",
    "MockRedisServer",
    "MockRedisSyncClient",
    "SystemClock",
    "VirtualClock",
]
