"""Kafka layer: topic setup and readiness, robust consumers, message assertions.

Usable without the base classes: every function takes a :data:`KafkaTarget`
(bootstrap servers, an endpoint, or a started admin client), never the session.
Needs the ``kafka`` extra (aiokafka).
"""

from integration_kit.dependencies import require

require("aiokafka", feature="the Kafka layer (integration_kit.kafka)")

from integration_kit.kafka.admin import KafkaTarget, admin_client, connect_admin
from integration_kit.kafka.consumers import (
    create_assigned_consumer,
    create_test_consumer,
    open_assigned_consumer,
    open_test_consumer,
    subscribe_with_backoff,
    unique_group_id,
    wait_for_assignment,
)
from integration_kit.kafka.handle import KafkaHandle
from integration_kit.kafka.messages import Message, encode_value
from integration_kit.kafka.readiness import (
    check_topics_accessible,
    wait_for_topic_availability,
    wait_for_topics_ready,
)
from integration_kit.kafka.topics import (
    TopicSpec,
    create_topics,
    delete_topics,
    normalize_topics,
    setup_kafka_topics,
)

__all__ = [
    "KafkaHandle",
    "KafkaTarget",
    "Message",
    "TopicSpec",
    "admin_client",
    "check_topics_accessible",
    "connect_admin",
    "create_assigned_consumer",
    "create_test_consumer",
    "create_topics",
    "delete_topics",
    "encode_value",
    "normalize_topics",
    "open_assigned_consumer",
    "open_test_consumer",
    "setup_kafka_topics",
    "subscribe_with_backoff",
    "unique_group_id",
    "wait_for_assignment",
    "wait_for_topic_availability",
    "wait_for_topics_ready",
]
