"""High-fidelity in-process stand-ins for the services: an in-memory Kafka, and Redis on a virtual clock.

The Redis names are imported on first use, so the Kafka mock works without fakeredis
(and an unsupported fakeredis fails with ``IK-MOCK-FAKEREDIS-UNSUPPORTED`` only where
the Redis mock is used). See docs/mocks.md.
"""

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports
from integration_kit.mocks.clock import Clock, SystemClock, VirtualClock
from integration_kit.mocks.kafka import (
    ChaosEvent,
    KafkaChaos,
    MockKafkaAdmin,
    MockKafkaCluster,
    MockKafkaConsumer,
    MockKafkaProducer,
    patch_aiokafka,
)

if TYPE_CHECKING:
    from integration_kit.mocks.redis import MockRedisClient, MockRedisServer, MockRedisSyncClient

__getattr__ = lazy_exports(
    __name__,
    dict.fromkeys(
        ("MockRedisClient", "MockRedisServer", "MockRedisSyncClient"),
        "integration_kit.mocks.redis",
    ),
)

__all__ = [
    "ChaosEvent",
    "Clock",
    "KafkaChaos",
    "MockKafkaAdmin",
    "MockKafkaCluster",
    "MockKafkaConsumer",
    "MockKafkaProducer",
    "MockRedisClient",
    "MockRedisServer",
    "MockRedisSyncClient",
    "SystemClock",
    "VirtualClock",
    "patch_aiokafka",
]
