"""High-fidelity in-process stand-ins for the services: an in-memory Kafka, and Redis on a virtual clock.

See docs/mocks.md.
"""

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
from integration_kit.mocks.redis import MockRedisClient, MockRedisServer, MockRedisSyncClient

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
