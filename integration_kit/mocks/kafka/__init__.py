"""An in-memory Kafka with aiokafka's client API: topics, partitions, groups, chaos.

See docs/mocks.md ("Mock Kafka").
"""

from integration_kit.dependencies import require

require("aiokafka", feature="the mock Kafka (integration_kit.mocks.kafka)")

from integration_kit.mocks.kafka.admin import MockAdminResponse, MockKafkaAdmin
from integration_kit.mocks.kafka.chaos import ChaosEvent, KafkaChaos
from integration_kit.mocks.kafka.cluster import MockKafkaCluster
from integration_kit.mocks.kafka.consumer import MockKafkaConsumer
from integration_kit.mocks.kafka.partitioner import SeededPartitioner, partition_for_key
from integration_kit.mocks.kafka.patch import patch_aiokafka
from integration_kit.mocks.kafka.producer import MockKafkaProducer

__all__ = [
    "ChaosEvent",
    "KafkaChaos",
    "MockAdminResponse",
    "MockKafkaAdmin",
    "MockKafkaCluster",
    "MockKafkaConsumer",
    "MockKafkaProducer",
    "SeededPartitioner",
    "partition_for_key",
    "patch_aiokafka",
]
