"""Snapshots that outlive their run on a warm server, found again by their key.

With reuse on (docs/reuse.md), a test class's snapshot database is named
``ik_snap_<key>`` (:mod:`~integration_kit.postgres.snapshot_key`) and marked with a
comment naming the kit, its key, the project, the class and when it was last used::

    integration-kit snapshot: key=<key> project=<id> class=<module.Class> used=<unix ms>

The next run that computes the same key uses it as it is: no migration, no seed. One
changed byte gives another key, so another snapshot is built (into a database carrying the
run's owner marker, reaped like any other if the run dies, and renamed into place once
complete). Builds of one key are serialized across processes by an advisory lock.

Garbage collection keeps the ``keep`` most recently used snapshots of a class in a
project, and never drops a database whose comment is not such a marker of the same
project and class, nor one used in the last :data:`GC_GRACE_S` seconds (another run may
be cloning it).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import pickle
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from integration_kit.postgres.janitor import Janitor, quote_ident, quote_literal
from integration_kit.postgres.migrations import MigrationSource, SeedHook, resolve_sources
from integration_kit.postgres.snapshot import Snapshot, SnapshotCache, build_snapshot
from integration_kit.postgres.snapshot_key import snapshot_key

log = logging.getLogger("integration_kit.postgres")

SNAPSHOT_PREFIX = "ik_snap_"
MARKER_PREFIX = "integration-kit snapshot: "
GC_GRACE_S = 60.0
_MARKER = re.compile(
    r"key=(?P<key>[0-9a-f]+) project=(?P<project>[A-Za-z0-9_.-]+) class=(?P<cls>\S+) used=(?P<used>\d+)"
)


@dataclass(frozen=True)
class SnapshotMarker:
    """What a keyed snapshot's comment says."""

    key: str
    project: str
    class_id: str
    used: int

    @property
    def comment(self) -> str:
        return f"{MARKER_PREFIX}key={self.key} project={self.project} class={self.class_id} used={self.used}"

    @classmethod
    def parse(cls, comment: str | None) -> SnapshotMarker | None:
        if not comment or not comment.startswith(MARKER_PREFIX):
            return None
        match = _MARKER.fullmatch(comment[len(MARKER_PREFIX) :])
        if match is None:
            return None
        return cls(match["key"], match["project"], match["cls"], int(match["used"]))


def snapshot_name(key: str) -> str:
    return SNAPSHOT_PREFIX + key


def _lock_id(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class KeyedSnapshots(SnapshotCache):
    """The snapshots of one test class on warm servers: a :class:`SnapshotCache` whose
    ``get`` finds or builds ``ik_snap_<key>``; what cannot be keyed falls back to a
    snapshot of this run (see :func:`~integration_kit.postgres.snapshot_key.snapshot_key`).

    ``seeds``: the class's seed as declared (its identity is part of the key; the
    hooks passed to :meth:`get` may be wrappers of it). ``used_other_stores``: for a class
    whose seed scenarios may also write to Redis or Kafka, whether the build's seeding did
    (asked after each build): a snapshot whose seeding did is built again in every run,
    since those stores' data must be written again; one whose seeding did not is reused.
    """

    def __init__(
        self,
        *,
        project: str,
        class_id: str,
        seeds: Iterable[Any] = (),
        run_seed: int | None = None,
        keep: int = 3,
        fallback: SnapshotCache | None = None,
        meta_dir: Path | None = None,
        used_other_stores: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__()
        self.project = project
        self.class_id = re.sub(r"\s", "_", class_id)
        self.seeds = list(seeds)
        self.run_seed = run_seed
        self.keep = keep
        self.fallback = fallback if fallback is not None else SnapshotCache()
        self.meta_dir = meta_dir
        self.used_other_stores = used_other_stores
        #: How the last :meth:`get` went: "reused", "built" or "unkeyed: <reason>".
        self.outcome = ""

    async def key_for(self, janitor: Janitor, sources: Sequence[Any]) -> tuple[str | None, str]:
        version = str(await janitor.pool.fetchval("show server_version_num"))
        found = snapshot_key(sources, self.seeds, server_version=version, run_seed=self.run_seed)
        return found.key, found.reason

    async def get(
        self,
        janitor: Janitor,
        database: str,
        *,
        migrations: MigrationSource | None,
        seed: Sequence[SeedHook],
        base_dirs: Iterable[Path] = (),
    ) -> Snapshot:
        base_dirs = list(base_dirs)
        sources = resolve_sources(migrations, base_dirs=base_dirs)
        key, reason = await self.key_for(janitor, sources)
        if key is None:
            self.outcome = f"unkeyed: {reason}"
            log.info("integration-kit: %s: snapshot not kept across runs (%s)", self.class_id, reason)
            return await self.fallback.get(
                janitor, database, migrations=sources, seed=seed, base_dirs=base_dirs
            )
        name = snapshot_name(key)
        async with janitor.pool.acquire() as conn:
            await conn.execute("select pg_advisory_lock($1)", _lock_id(key))
            try:
                snapshot = await self._existing(janitor, conn, name, key)
                if snapshot is None:
                    snapshot = await self._build(janitor, conn, name, key, sources, seed, base_dirs)
                    self.outcome = "built"
                else:
                    self.outcome = "reused"
            finally:
                await conn.execute("select pg_advisory_unlock($1)", _lock_id(key))
            await self._collect_garbage(janitor, conn, keep_name=name)
        return snapshot

    def _marker(self, key: str) -> SnapshotMarker:
        return SnapshotMarker(key, self.project, self.class_id, time.time_ns() // 1_000_000)

    async def _existing(
        self, janitor: Janitor, conn: asyncpg.Connection, name: str, key: str
    ) -> Snapshot | None:
        row = await conn.fetchrow(
            "select oid, shobj_description(oid, 'pg_database') as comment "
            "from pg_database where datname = $1",
            name,
        )
        marker = SnapshotMarker.parse(row["comment"] if row else None)
        if row is None or marker is None or marker.key != key or marker.project != self.project:
            return None  # absent, or not a snapshot of ours: built under this name would fail
        fresh = self._marker(key)
        await conn.execute(f"comment on database {quote_ident(name)} is {quote_literal(fresh.comment)}")
        meta = self._meta_path(janitor, name, row["oid"])
        snapshot, elsewhere = _load_meta(meta)
        if self.used_other_stores is not None and (snapshot is None or elsewhere is not False):
            # Its seeding wrote to Redis/Kafka too (or no record says it did not): build again.
            log.info("integration-kit: %s: snapshot built again (its seed used Redis/Kafka)", self.class_id)
            return None
        if snapshot is not None:
            snapshot.expected_comment = fresh.comment
            if snapshot.state is not None:
                snapshot.state = dataclasses.replace(snapshot.state, comment=fresh.comment)
            return snapshot
        snapshot = Snapshot(name="base", database=name, expected_comment=fresh.comment)
        await snapshot.capture(janitor)
        _save_meta(meta, snapshot)
        return snapshot

    def _meta_path(self, janitor: Janitor, name: str, oid: int) -> Path | None:
        """Where what a capture of snapshot ``name`` found is kept (per server and database oid)."""
        if self.meta_dir is None:
            return None
        from urllib.parse import urlsplit

        server = urlsplit(janitor.admin_dsn).netloc.rpartition("@")[2]
        tag = hashlib.sha256(server.encode()).hexdigest()[:12]
        return self.meta_dir / f"{tag}-{name}-{oid}.pickle"

    async def _build(
        self,
        janitor: Janitor,
        conn: asyncpg.Connection,
        name: str,
        key: str,
        sources: Sequence[Any],
        seed: Sequence[SeedHook],
        base_dirs: Sequence[Path],
    ) -> Snapshot:
        # Built under the run's owner marker (reaped if the run dies), renamed when complete.
        building = janitor.unique_name(f"{name}_b")
        snapshot = await build_snapshot(
            janitor, building, migrations=list(sources), seed=seed, base_dirs=base_dirs
        )
        marker = self._marker(key)
        try:
            await conn.execute(f"drop database if exists {quote_ident(name)}")  # ours: checked under the lock
            await conn.execute(
                f"alter database {quote_ident(snapshot.database)} rename to {quote_ident(name)}"
            )
        except BaseException:
            await janitor.drop(snapshot.database)
            raise
        await conn.execute(f"comment on database {quote_ident(name)} is {quote_literal(marker.comment)}")
        snapshot.database = name
        snapshot.expected_comment = marker.comment
        if snapshot.state is not None:
            snapshot.state = dataclasses.replace(snapshot.state, comment=marker.comment)
        oid = await conn.fetchval("select oid from pg_database where datname = $1", name)
        elsewhere = self.used_other_stores() if self.used_other_stores is not None else False
        _save_meta(self._meta_path(janitor, name, oid), snapshot, used_other_stores=elsewhere)
        log.info("integration-kit: %s: built snapshot %s (kept for the next runs)", self.class_id, name)
        return snapshot

    async def _collect_garbage(
        self, janitor: Janitor, conn: asyncpg.Connection, *, keep_name: str
    ) -> list[str]:
        """Drop this class's snapshots beyond the ``keep`` most recently used."""
        rows = await conn.fetch(
            "select datname, shobj_description(oid, 'pg_database') as comment from pg_database "
            "where datname like 'ik\\_snap\\_%'"
        )
        mine = []
        for row in rows:
            marker = SnapshotMarker.parse(row["comment"])
            if marker and marker.project == self.project and marker.class_id == self.class_id:
                mine.append((marker.used, row["datname"]))
        mine.sort(reverse=True)
        others = [item for item in mine if item[1] != keep_name]
        dropped = []
        now = time.time_ns() // 1_000_000
        for used, datname in others[max(self.keep - 1, 0) :]:
            if now - used < GC_GRACE_S * 1000:
                continue
            try:
                await conn.execute(f"drop database if exists {quote_ident(datname)}")
            except asyncpg.ObjectInUseError:
                continue
            log.info("integration-kit: %s: dropped stale snapshot %s", self.class_id, datname)
            dropped.append(datname)
        return dropped

    async def close(self) -> None:
        """Keyed snapshots stay; the fallback's snapshots of this run are dropped."""
        await self.fallback.close()

    def close_sync(self) -> None:
        self.fallback.close_sync()


_META_FIELDS = (
    "checksums", "sequences", "sequence_states", "tables",
    "schema", "schema_digest", "large_objects", "state",
)  # fmt: skip


def _save_meta(path: Path | None, snapshot: Snapshot, *, used_other_stores: bool = False) -> None:
    """Keep what capturing ``snapshot`` found (the next run skips the capture queries), and
    beside it whether its seeding used Redis/Kafka too (a file of its own: the capture's
    format stays what earlier versions of the kit read)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"database": snapshot.database, **{name: getattr(snapshot, name) for name in _META_FIELDS}}
    stores = b"yes" if used_other_stores else b"no"
    for target, content in ((_stores_path(path), stores), (path, pickle.dumps(data))):
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(content)
        tmp.replace(target)


def _stores_path(path: Path) -> Path:
    return path.with_suffix(".other-stores")


def _load_meta(path: Path | None) -> tuple[Snapshot | None, bool | None]:
    """The kept capture of a snapshot and whether its seeding used Redis/Kafka (None: unknown)."""
    if path is None:
        return None, None
    try:
        data = pickle.loads(path.read_bytes())
        stores = _stores_path(path).read_bytes() if _stores_path(path).exists() else None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None, None
    database = data.pop("database")
    elsewhere = {b"yes": True, b"no": False}.get(stores) if stores is not None else None
    return Snapshot(name="base", database=database, **data), elsewhere


async def list_snapshots(admin_dsn: str) -> list[tuple[str, SnapshotMarker]]:
    """Every keyed snapshot on a server, with its marker."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "select datname, shobj_description(oid, 'pg_database') as comment from pg_database "
            "where datname like 'ik\\_snap\\_%'"
        )
    finally:
        await conn.close()
    found = []
    for row in rows:
        marker = SnapshotMarker.parse(row["comment"])
        if marker is not None:
            found.append((row["datname"], marker))
    return found


def class_snapshots(ctx: Any, cls: type, spec: Any, fallback: SnapshotCache) -> SnapshotCache:
    """The snapshot cache of a ``PostgresTestCase`` class: keyed snapshots when its
    PostgreSQL is a warm service (reuse on), else ``fallback`` (the run's cache)."""
    from integration_kit.declarations import declared
    from integration_kit.postgres.migrations import as_hooks
    from integration_kit.seeding import context, hooks
    from integration_kit.services.warm.backend import WarmService
    from integration_kit.services.warm.project import project_id

    get = getattr(ctx.services, "get", None)
    running = get(spec) if get is not None else None
    if not isinstance(running, WarmService):
        return fallback
    seeds = as_hooks(declared(cls, "postgres_seed"))
    used_other_stores = None
    if hooks.scenarios_of(seeds) and {"redis", "kafka"} & hooks._kinds(cls):
        if not hooks.seeds_only_postgres_first(cls):
            log.info(
                "integration-kit: %s: snapshot not kept across runs (it also seeds Redis/Kafka)",
                cls.__qualname__,
            )
            return fallback
        # Its scenarios may write to Redis/Kafka too: kept only if a build shows they did not.
        used_other_stores = functools.partial(hooks.postgres_seed_used_other_stores, ctx)
    active = context.current()
    return KeyedSnapshots(
        project=project_id(),
        class_id=f"{cls.__module__}.{cls.__qualname__}",
        seeds=seeds,
        run_seed=active.run_seed if active is not None else None,
        keep=ctx.services.settings.snapshot_keep,
        fallback=fallback,
        meta_dir=running.set_dir / "snapshots",
        used_other_stores=used_other_stores,
    )
