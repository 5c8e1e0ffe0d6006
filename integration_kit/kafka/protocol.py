"""The raw Kafka requests the layer sends, built for every aiokafka the kit supports.

aiokafka's public API offers no metadata request that never auto-creates a topic
(``MetadataRequest`` with ``allow_auto_topic_creation=False``), no way to ask a
partition's leader for its end offset (``ListOffsets``), and no deletion of consumer
groups. aiokafka < 0.13 exposes one request class per protocol version
(``MetadataRequest[5](...)``); 0.13 and later one class that picks the version with the
broker. Both ends are tested (the lowest- and newest-versions passes of
``scripts/ranges.sh``); the declared range stops below the next minor release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.protocol import admin as _admin
from aiokafka.protocol import metadata as _metadata
from aiokafka.protocol import offset as _offset

#: Versions used with aiokafka < 0.13; Kafka 4 removed the older ones (KIP-896).
_METADATA_VERSION = 5
_LIST_OFFSETS_VERSION = 2
_DELETE_GROUPS_VERSION = 1
_REPLICA_ID_CONSUMER = -1
_READ_UNCOMMITTED = 0


def metadata_request(topics: Sequence[str]) -> Any:
    """Metadata of ``topics``, asking the broker not to auto-create any of them."""
    request: Any = _metadata.MetadataRequest
    if isinstance(request, list):  # aiokafka < 0.13
        return request[_METADATA_VERSION](list(topics), False)
    return request(list(topics), allow_auto_topic_creation=False)


def list_offsets_request(partitions: Mapping[str, Sequence[tuple[int, int]]]) -> Any:
    """``ListOffsets`` for ``{topic: [(partition, timestamp), ...]}`` (timestamp -1: the end)."""
    topics = [(topic, list(parts)) for topic, parts in partitions.items()]
    request: Any = _offset.OffsetRequest
    if isinstance(request, list):  # aiokafka < 0.13
        return request[_LIST_OFFSETS_VERSION](_REPLICA_ID_CONSUMER, _READ_UNCOMMITTED, topics)
    return request(_REPLICA_ID_CONSUMER, _READ_UNCOMMITTED, topics)


def delete_groups_request(groups: Sequence[str]) -> Any:
    """``DeleteGroups`` for consumer groups (send it to their coordinator)."""
    request: Any = _admin.DeleteGroupsRequest
    if isinstance(request, list):  # aiokafka < 0.13
        return request[_DELETE_GROUPS_VERSION](list(groups))
    return request(list(groups))
