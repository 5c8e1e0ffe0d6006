"""Which topics the kit created: it deletes or recreates only those, and reaps a killed run's.

Kafka refuses topic configs it does not know, so a topic cannot carry an owner marker
itself. The kit records every topic it creates, *before* creating it, in its local
registry (:class:`~integration_kit.services.registry.OwnershipRegistry`, an SQLite file
under the cache dir whose committed rows survive a SIGKILL), keyed by the cluster
(:class:`Cluster`: bootstrap servers + cluster id) and naming the owner (an
:class:`~integration_kit.services.ownership.Owner`: run id, host, pid, pid start time).

- Before the kit deletes or recreates a declared topic, :func:`check_not_foreign` asks the
  broker which of the names exist; one the registry does not name as this process's is
  someone else's: ``IK-KAFKA-TOPIC-FOREIGN``, nothing is deleted.
- When the kit deletes its topics it forgets their rows.
- :func:`reap_leftovers`, once per process and cluster: the topics whose rows name an
  owner that is provably dead on this host (a run killed with SIGKILL) are deleted and
  their rows forgotten. A topic the registry does not name is never deleted, whatever
  its name looks like; rows of other hosts (another machine's run) are never judged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.admin import cluster_id, describe_topics
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import OwnershipRegistry

log = logging.getLogger("integration_kit.kafka")


@dataclass(frozen=True)
class Cluster:
    """A Kafka cluster as the registry keys it: the bootstrap servers and the cluster id."""

    bootstrap_servers: str
    cluster_id: str

    @property
    def key(self) -> str:
        servers = ",".join(sorted(p.strip() for p in self.bootstrap_servers.split(",") if p.strip()))
        return f"{servers}#{self.cluster_id}"


async def cluster_of(admin: AIOKafkaAdminClient, bootstrap_servers: str) -> Cluster:
    """The cluster ``admin`` is connected to (one metadata request)."""
    return Cluster(bootstrap_servers, await cluster_id(admin))


_REAPED: set[tuple[Path, str]] = set()


async def reap_leftovers(
    admin: AIOKafkaAdminClient, cluster: Cluster, registry: OwnershipRegistry
) -> list[str]:
    """Delete the topics a dead run of this host recorded on ``cluster``; once per process.

    Returns the names deleted (those still on the broker); their rows are forgotten. A
    broker that refuses the deletion is logged, and the rows are kept for the next run.
    """
    if (registry.path, cluster.key) in _REAPED:
        return []
    _REAPED.add((registry.path, cluster.key))
    registry.prune()
    leftovers = registry.leftovers(cluster)
    if not leftovers:
        return []
    from integration_kit.kafka.topics import delete_topics

    names = sorted(leftovers)
    found = await describe_topics(admin, names)
    present = [name for name in names if name in found and found[name].exists]
    if present:
        try:
            await delete_topics(admin, present, wait=False)
        except KafkaError as exc:  # housekeeping: the rows stay for the next run to retry
            log.warning("integration-kit: could not delete topics left by dead runs %s: %s", present, exc)
            return []
        for name in present:
            who = leftovers[name].describe()
            log.info("integration-kit: deleted topic %r left by dead run %s", name, who)
    by_owner: dict[Owner, list[str]] = {}
    for name, owner in leftovers.items():
        by_owner.setdefault(owner, []).append(name)
    for owner, owned in by_owner.items():
        registry.forget(cluster, owned, owner)
    return present


async def check_not_foreign(
    admin: AIOKafkaAdminClient,
    cluster: Cluster,
    names: Sequence[str],
    *,
    owner: str,
    registry: OwnershipRegistry,
    me: Owner | None = None,
) -> list[str]:
    """``IK-KAFKA-TOPIC-FOREIGN`` if any of ``names`` exists without being this process's.

    ``owner`` names the declaring class in the message; ``me`` is this process
    (default: :meth:`Owner.current`). One metadata request, which never auto-creates the
    topics it asks about. A name this process deleted a moment ago (the broker may still be
    removing it) is this process's. Returns the names the registry does not name as ours
    (to record before creating them).
    """
    me = me if me is not None else Owner.current()
    recorded = registry.owners(cluster, names)
    unrecorded = [name for name in names if recorded.get(name) != me]
    unknown = [name for name in unrecorded if not registry.deleted_here(cluster, name)]
    if not unknown:
        return unrecorded
    found = await describe_topics(admin, unknown)
    foreign = sorted(name for name in unknown if name in found and found[name].exists)
    if foreign:
        raise KafkaError(
            ErrorCode.KAFKA_TOPIC_FOREIGN,
            topics=", ".join(repr(name) for name in foreign),
            bootstrap_servers=cluster.bootstrap_servers,
            owner=owner,
        )
    return unrecorded
