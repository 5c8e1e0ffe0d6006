"""Which topics the kit created: it deletes or recreates only those.

A topic a test class declares is created by the kit and recorded in :data:`CREATED`,
keyed by the bootstrap servers, for the life of the process (an xdist worker: each
worker names its topics with its own prefix, so it only ever touches its own). Before
the kit deletes or recreates a declared topic, :func:`check_not_foreign` asks the broker
which of the names exist; one the kit did not create in this process is someone else's:
``IK-KAFKA-TOPIC-FOREIGN``, and nothing is deleted.

Why in-process and not on the broker: Kafka refuses topic configs it does not know, so a
topic cannot carry an owner marker itself, and an ownership topic on a shared broker is
one more thing to leave behind. A topic left by a killed run is therefore not the next
run's to delete: it is reported (delete it yourself, or use ``kafka_topic_naming =
"unique"``), never removed by name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from aiokafka.admin import AIOKafkaAdminClient

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.admin import describe_topics


class TopicRegistry:
    """Topic names the kit created in this process, by bootstrap servers."""

    def __init__(self) -> None:
        self._created: dict[str, set[str]] = {}

    def record(self, bootstrap_servers: str, names: Iterable[str]) -> None:
        self._created.setdefault(_key(bootstrap_servers), set()).update(names)

    def created(self, bootstrap_servers: str, name: str) -> bool:
        return name in self._created.get(_key(bootstrap_servers), ())


#: The process's registry (module state on purpose: ownership lasts as long as the process).
CREATED = TopicRegistry()


def _key(bootstrap_servers: str) -> str:
    return ",".join(sorted(part.strip() for part in bootstrap_servers.split(",") if part.strip()))


async def check_not_foreign(
    admin: AIOKafkaAdminClient,
    bootstrap_servers: str,
    names: Sequence[str],
    *,
    owner: str,
    registry: TopicRegistry = CREATED,
) -> None:
    """``IK-KAFKA-TOPIC-FOREIGN`` if any of ``names`` exists without the kit having created it.

    ``owner`` names the declaring class in the message. One metadata request, which never
    auto-creates the topics it asks about.
    """
    unknown = [name for name in names if not registry.created(bootstrap_servers, name)]
    if not unknown:
        return
    found = await describe_topics(admin, unknown)
    foreign = sorted(name for name in unknown if name in found and found[name].exists)
    if foreign:
        raise KafkaError(
            ErrorCode.KAFKA_TOPIC_FOREIGN,
            topics=", ".join(repr(name) for name in foreign),
            bootstrap_servers=bootstrap_servers,
            owner=owner,
        )
