"""Snapshots: template databases built from migrations and seeds, and a per-run cache.

A :class:`Snapshot` is a database the kit never lets tests touch; restores clone it.
Its checksums and sequence values are captured once, so verification does not have to
read it again unless rows must be compared. Connections to it are serialized with the
clones (``CREATE DATABASE ... TEMPLATE`` refuses a template with other sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from integration_kit.errors import ErrorCode, PostgresError
from integration_kit.postgres import catalog, verify
from integration_kit.postgres.database_state import DatabaseState
from integration_kit.postgres.janitor import APPLICATION_NAME, Janitor, drop_databases
from integration_kit.postgres.migrations import (
    MigrationSource,
    SeedHook,
    apply_migrations,
    fingerprint,
    resolve_sources,
    run_seed,
)

log = logging.getLogger("integration_kit.postgres")


@dataclass
class Snapshot:
    """A template database and what it held when captured: row checksums of every
    relation, sequence states, large objects, the schema fingerprint and the
    database-level state (applied to every clone by :meth:`clone_to`)."""

    name: str
    database: str
    checksums: dict[str, verify.Checksum] = field(default_factory=dict)
    sequences: dict[str, int | None] = field(default_factory=dict)
    sequence_states: dict[str, verify.SequenceState] = field(default_factory=dict)
    tables: list[verify.Table] = field(default_factory=list)
    schema: dict[str, str] = field(default_factory=dict)
    schema_digest: str = ""
    large_objects: dict[int, str] = field(default_factory=dict)
    state: DatabaseState | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @contextlib.asynccontextmanager
    async def connect(self, janitor: Janitor) -> AsyncIterator[asyncpg.Connection]:
        """A short-lived connection to the template (excludes concurrent clones)."""
        async with self.lock:
            conn = await asyncpg.connect(
                janitor.dsn(self.database), server_settings={"application_name": APPLICATION_NAME}
            )
            try:
                yield conn
            finally:
                await conn.close()

    async def capture(self, janitor: Janitor) -> None:
        """(Re)read what the template holds (see the class docstring).

        ``IK-PG-SNAPSHOT-UNSUPPORTED`` if the database comment (the kit's ownership
        marker) was changed, e.g. by a migration.
        """
        async with self.connect(janitor) as conn:
            self.tables = await verify.tables(conn)
            self.checksums = await verify.table_checksums(conn)
            self.sequences = await verify.sequence_values(conn)
            self.sequence_states = await verify.sequence_states(conn)
            self.schema = await catalog.schema_objects(conn)
            self.schema_digest = catalog.digest(self.schema)
            self.large_objects = await verify.large_objects(conn)
        self.state = await DatabaseState.read(janitor.pool, self.database)
        if self.state.comment != janitor.comment:
            raise PostgresError(
                ErrorCode.PG_SNAPSHOT_UNSUPPORTED,
                database=self.database,
                what=f"database comment {self.state.comment!r}",
                cause="the database comment is the kit's ownership marker (set by COMMENT ON DATABASE?)",
            )

    async def clone_to(self, janitor: Janitor, name: str, *, fallback: bool = True) -> str:
        """``CREATE DATABASE name TEMPLATE <snapshot> STRATEGY FILE_COPY`` plus the
        snapshot's database-level state; returns the name used."""
        async with self.lock:
            created = await janitor.create(name, template=self.database, fallback=fallback)
        if self.state is not None:
            try:
                await janitor.apply_state(created, self.state)
            except BaseException:
                await janitor.drop(created)
                raise
        return created


async def build_snapshot(
    janitor: Janitor,
    database: str,
    *,
    name: str = "base",
    migrations: MigrationSource | None = None,
    seed: Sequence[SeedHook] = (),
    base_dirs: Iterable[Path] = (),
) -> Snapshot:
    """Create ``database``, apply migrations, run seed hooks, capture it as a snapshot.

    On failure the half-built database is dropped and the coded error propagates.
    """
    created = await janitor.create(database)
    try:
        dsn = janitor.dsn(created)
        await apply_migrations(dsn, migrations, base_dirs=base_dirs)
        if seed:
            conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
            try:
                await run_seed(conn, seed)
            finally:
                await conn.close()
        snapshot = Snapshot(name=name, database=created)
        await snapshot.capture(janitor)
    except BaseException:
        await janitor.drop(created)
        raise
    return snapshot


class SnapshotCache:
    """Snapshots shared by test classes within one process: migrations run once per run
    and worker for each distinct (server, database, migrations, seed) combination.

    ``close()`` drops them; ``close_sync()`` does so from outside any event loop (atexit).
    """

    def __init__(self) -> None:
        self._snapshots: dict[tuple[str, str, str], Snapshot] = {}
        self._admin: dict[tuple[str, str, str], str] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

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
        key = (janitor.admin_dsn, database, fingerprint(sources, seed))
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._snapshots.get(key)
            if found is not None and await janitor.exists(found.database):
                # a fresh lock: the cached one may belong to a closed event loop
                found.lock = asyncio.Lock()
                return found
            snapshot = await build_snapshot(
                janitor, database, migrations=sources, seed=seed, base_dirs=base_dirs
            )
            self._snapshots[key] = snapshot
            self._admin[key] = janitor.admin_dsn
            return snapshot

    def forget(self, snapshot: Snapshot) -> None:
        for key, value in list(self._snapshots.items()):
            if value is snapshot:
                del self._snapshots[key]

    async def close(self) -> None:
        by_server: dict[str, list[str]] = {}
        for key, snapshot in self._snapshots.items():
            by_server.setdefault(self._admin[key], []).append(snapshot.database)
        self._snapshots.clear()
        self._locks.clear()
        for admin_dsn, names in by_server.items():
            await drop_databases(admin_dsn, names)

    def close_sync(self) -> None:
        """Drop the snapshots from outside any event loop; a server already gone is fine."""
        if not self._snapshots:
            return
        try:
            asyncio.run(self.close())
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.info("integration-kit: snapshots not dropped at exit (%r); the next run reaps them", exc)
