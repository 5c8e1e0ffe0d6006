"""High-fidelity in-process stand-ins for the services: an in-memory Kafka (and Redis).

See docs/mocks.md.
"""

from integration_kit.mocks.kafka import (
    ChaosEvent,
    KafkaChaos,
    MockKafkaAdmin,
    MockKafkaCluster,
    MockKafkaConsumer,
    MockKafkaProducer,
    patch_aiokafka,
)

__all__ = [
    "ChaosEvent",
    "KafkaChaos",
    "MockKafkaAdmin",
    "MockKafkaCluster",
    "MockKafkaConsumer",
    "MockKafkaProducer",
    "patch_aiokafka",
]
