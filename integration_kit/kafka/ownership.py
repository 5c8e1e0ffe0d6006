"""Which topics the kit created: it deletes or recreates only those, and reaps a killed run's.

Kafka refuses topic configs it does not know, so a topic cannot carry an owner marker
itself. The kit records every topic it creates, *before* creating it, in a small
registry on this machine (:class:`TopicRegistry`: an SQLite file in WAL mode under the
cache dir, ``kafka-topics.sqlite3``), keyed by the cluster (bootstrap servers + cluster
id) and naming the owner (an :class:`~integration_kit.services.ownership.Owner`: run
id, host, pid, pid start time). A committed row survives a SIGKILL of the process.

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

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiokafka.admin import AIOKafkaAdminClient

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.admin import cluster_id, describe_topics
from integration_kit.services.ownership import Owner

if TYPE_CHECKING:
    from integration_kit.config import Settings

log = logging.getLogger("integration_kit.kafka")

REGISTRY_FILE = "kafka-topics.sqlite3"
#: Rows of dead owners on clusters never seen again are dropped after this many seconds.
STALE_ROW_S = 30 * 24 * 3600.0
_SCHEMA = """
create table if not exists topics (
    cluster text not null,
    topic text not null,
    owner text not null,
    created real not null,
    primary key (cluster, topic)
)
"""


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


class TopicRegistry:
    """The topics the kit created, with their owners, in an SQLite file (see module doc)."""

    _lock = threading.Lock()
    _opened: dict[Path, TopicRegistry] = {}

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._use = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        #: Topics this process deleted (by cluster key): their deletion may still be under
        #: way on the broker, and the name is still this process's to recreate.
        self._deleted_here: dict[str, set[str]] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> TopicRegistry:
        """The registry under ``settings.cache_dir`` (one object per path and process)."""
        path = Path(settings.cache_dir) / REGISTRY_FILE
        with cls._lock:
            found = cls._opened.get(path)
            if found is None:
                found = cls._opened[path] = cls(path)
            return found

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The process's connection to the file, in one transaction (committed on exit).

        The connection stays open: closing the last one checkpoints the WAL, a sync per
        use. ``IK-KAFKA-REGISTRY-FAILED`` if the file cannot be opened or written.
        """
        with self._use:
            try:
                conn = self._open()
                conn.execute("begin immediate")
            except (OSError, sqlite3.Error) as exc:
                raise KafkaError(ErrorCode.KAFKA_REGISTRY_FAILED, path=self.path, cause=exc) from exc
            try:
                yield conn
                conn.execute("commit")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("rollback")
                if isinstance(exc, sqlite3.Error):
                    raise KafkaError(ErrorCode.KAFKA_REGISTRY_FAILED, path=self.path, cause=exc) from exc
                raise

    def _open(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=normal")  # WAL: a commit survives a killed process
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def record(self, cluster: Cluster, names: Iterable[str], owner: Owner) -> None:
        """Name ``owner`` as the creator of ``names`` (committed before this returns)."""
        rows = [(cluster.key, name, owner.text, time.time()) for name in names]
        if not rows:
            return
        with self._connect() as conn:
            conn.executemany("insert or replace into topics values (?, ?, ?, ?)", rows)

    def owners(self, cluster: Cluster, names: Sequence[str] | None = None) -> dict[str, Owner | None]:
        """The recorded owner of each of ``names`` that has a row (every row when None);
        None for a row whose owner does not parse."""
        with self._connect() as conn:
            query = conn.execute("select topic, owner from topics where cluster = ?", (cluster.key,))
            found = query.fetchall()
        wanted = None if names is None else set(names)
        return {topic: Owner.parse(text) for topic, text in found if wanted is None or topic in wanted}

    def forget(self, cluster: Cluster, names: Iterable[str], owner: Owner) -> None:
        """Drop the rows of ``names`` that name ``owner`` (someone else's rows stay), once
        their deletion was sent; this process may recreate them (:meth:`deleted_here`)."""
        rows = [(cluster.key, name, owner.text) for name in names]
        if not rows:
            return
        with self._connect() as conn:
            conn.executemany("delete from topics where cluster = ? and topic = ? and owner = ?", rows)
        if owner == Owner.current():
            self._deleted_here.setdefault(cluster.key, set()).update(name for _, name, _ in rows)

    def deleted_here(self, cluster: Cluster, name: str) -> bool:
        """Whether this process created ``name`` and sent its deletion (it may still exist)."""
        return name in self._deleted_here.get(cluster.key, ())

    def leftovers(self, cluster: Cluster) -> dict[str, Owner]:
        """Topics of ``cluster`` whose recorded owner is provably dead on this host."""
        return {
            name: owner
            for name, owner in self.owners(cluster).items()
            if owner is not None and not owner.alive()
        }

    def prune(self, *, older_than: float = STALE_ROW_S) -> int:
        """Drop rows of dead owners older than ``older_than`` seconds, on any cluster (their
        clusters, e.g. a local broker of a killed run, are not seen again); returns how many."""
        cutoff = time.time() - older_than
        with self._connect() as conn:
            rows = conn.execute("select cluster, topic, owner from topics where created < ?", (cutoff,))
            dead = [(c, t, o) for c, t, o in rows.fetchall() if _dead(o)]
            conn.executemany("delete from topics where cluster = ? and topic = ? and owner = ?", dead)
        return len(dead)


def _dead(text: str) -> bool:
    owner = Owner.parse(text)
    return owner is not None and not owner.alive()


_REAPED: set[tuple[Path, str]] = set()


async def reap_leftovers(admin: AIOKafkaAdminClient, cluster: Cluster, registry: TopicRegistry) -> list[str]:
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
    registry: TopicRegistry,
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
