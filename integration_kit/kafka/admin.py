"""Admin connections and raw metadata: connect with a deadline, ask every broker.

``KafkaTarget`` is what every function of this layer accepts as "the Kafka to use":
bootstrap servers (``"host:port,host:port"`` or a list), an :class:`Endpoint`, a
started :class:`~aiokafka.admin.AIOKafkaAdminClient`, or anything with a
``bootstrap_servers`` attribute (such as the test-case handle ``self.kafka``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, runtime_checkable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError as _DriverError

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.protocol import metadata_request
from integration_kit.waiting import Backoff

CONNECT_BACKOFF = Backoff(initial=0.02, maximum=0.5)
UNKNOWN_TOPIC_OR_PARTITION = 3


@runtime_checkable
class HasBootstrapServers(Protocol):
    @property
    def bootstrap_servers(self) -> str: ...


KafkaTarget: TypeAlias = str | Sequence[str] | AIOKafkaAdminClient | HasBootstrapServers


def bootstrap_servers_of(kafka: KafkaTarget) -> str:
    """The ``host:port[,host:port]`` string behind any :data:`KafkaTarget`."""
    if isinstance(kafka, str):
        return kafka
    if isinstance(kafka, AIOKafkaAdminClient):
        hosts = kafka._client._bootstrap_servers  # the driver keeps no public accessor
        return hosts if isinstance(hosts, str) else ",".join(hosts)
    if isinstance(kafka, HasBootstrapServers):
        return kafka.bootstrap_servers
    return ",".join(kafka)


def unreachable(kafka: KafkaTarget, timeout: float, cause: object) -> KafkaError:
    return KafkaError(
        ErrorCode.KAFKA_UNREACHABLE,
        bootstrap_servers=bootstrap_servers_of(kafka),
        timeout=timeout,
        cause=cause,
    )


async def connect_admin(kafka: KafkaTarget, *, timeout: float = 10.0) -> AIOKafkaAdminClient:
    """A started admin client; retries with backoff, ``IK-KAFKA-UNREACHABLE`` at the deadline.

    The caller owns the client (``await admin.close()``); prefer :func:`admin_client`.
    """
    servers = bootstrap_servers_of(kafka)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: BaseException | None = None
    for delay in CONNECT_BACKOFF.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        admin = AIOKafkaAdminClient(
            bootstrap_servers=servers,
            request_timeout_ms=max(int(remaining * 1000), 1000),
            retry_backoff_ms=20,
        )
        try:
            await asyncio.wait_for(admin.start(), remaining)
            return admin
        except (TimeoutError, _DriverError, OSError) as exc:
            last = exc
            await admin.close()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise unreachable(servers, timeout, _describe(last)) from last


@contextlib.asynccontextmanager
async def admin_client(kafka: KafkaTarget, *, timeout: float = 10.0) -> AsyncIterator[AIOKafkaAdminClient]:
    """Yield an admin client: ``kafka`` itself if it is one, else a new one closed on exit."""
    if isinstance(kafka, AIOKafkaAdminClient):
        yield kafka
        return
    admin = await connect_admin(kafka, timeout=timeout)
    try:
        yield admin
    finally:
        await admin.close()


@dataclass(frozen=True)
class PartitionInfo:
    """One partition as a broker's metadata shows it."""

    partition: int
    error_code: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()

    @property
    def problem(self) -> str | None:
        """Why the partition is not usable yet, or ``None`` when it is."""
        if self.error_code:
            return f"error {self.error_code}"
        if self.leader < 0:
            return "no leader"
        if self.offline_replicas:
            return f"offline replicas {list(self.offline_replicas)}"
        if set(self.isr) != set(self.replicas):
            return f"ISR {list(self.isr)} != replicas {list(self.replicas)}"
        return None


@dataclass(frozen=True)
class TopicInfo:
    """One topic as one broker's metadata shows it; ``exists`` is False when unknown."""

    name: str
    error_code: int
    partitions: dict[int, PartitionInfo] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.error_code != UNKNOWN_TOPIC_OR_PARTITION


async def broker_ids(admin: AIOKafkaAdminClient) -> list[int]:
    """Ids of the brokers the admin client knows (refreshing once if it knows none)."""
    ids = sorted(b.nodeId for b in admin._client.cluster.brokers())
    if not ids:
        await admin._client.force_metadata_update()
        ids = sorted(b.nodeId for b in admin._client.cluster.brokers())
    return ids


async def describe_topics(
    admin: AIOKafkaAdminClient, topics: Sequence[str], *, node_id: int | None = None
) -> dict[str, TopicInfo]:
    """Metadata of ``topics`` from one broker, never auto-creating them.

    (The driver's own ``describe_topics`` lets the broker auto-create the topics it asks
    about when ``auto.create.topics.enable`` is on, which resurrects just-deleted topics.)
    """
    node = node_id if node_id is not None else admin._client.get_random_node()
    response = await admin._client.send(node, metadata_request(topics))
    return _parse_topics(response.to_object())


async def cluster_id(admin: AIOKafkaAdminClient) -> str:
    """The cluster id the broker reports (``"unknown"`` from a broker that reports none)."""
    node = admin._client.get_random_node()
    response = await admin._client.send(node, metadata_request([]))
    return str(response.to_object().get("cluster_id") or "unknown")


async def describe_topics_everywhere(
    admin: AIOKafkaAdminClient, topics: Sequence[str]
) -> dict[int, dict[str, TopicInfo]]:
    """:func:`describe_topics` from every broker (each keeps its own metadata cache)."""
    nodes = await broker_ids(admin)
    views = await asyncio.gather(*(describe_topics(admin, topics, node_id=n) for n in nodes))
    return dict(zip(nodes, views, strict=True))


def _parse_topics(obj: dict[str, Any]) -> dict[str, TopicInfo]:
    result: dict[str, TopicInfo] = {}
    for topic in obj.get("topics", []):
        partitions = {
            p["partition"]: PartitionInfo(
                partition=p["partition"],
                error_code=p["error_code"],
                leader=p["leader"],
                replicas=tuple(p.get("replicas", ())),
                isr=tuple(p.get("isr", ())),
                offline_replicas=tuple(p.get("offline_replicas", ()) or ()),
            )
            for p in topic.get("partitions", [])
        }
        result[topic["topic"]] = TopicInfo(topic["topic"], topic["error_code"], partitions)
    return result


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no attempt finished"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
