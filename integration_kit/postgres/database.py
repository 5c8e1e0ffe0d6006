"""``IsolatedDatabase``: one worker's test database, kept equal to a snapshot between tests.

Usable on its own (plain fixtures, scripts)::

    async with IsolatedDatabase(admin_dsn, migrations="migrations/", isolation="swap") as db:
        await db.begin_test()
        ...                         # the app connects to db.dsn
        await db.end_test()         # the next begin_test() starts from the snapshot again

``PostgresTestCase`` drives one per test class.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from integration_kit.errors import ErrorCode, PostgresError
from integration_kit.postgres import verify
from integration_kit.postgres.database_state import DatabaseState
from integration_kit.postgres.janitor import APPLICATION_NAME, Janitor, quote_ident
from integration_kit.postgres.migrations import (
    MigrationSource,
    SeedHook,
    as_hooks,
    fingerprint,
    resolve_sources,
    split_statements,
)
from integration_kit.postgres.restore_hooks import Listeners, RestoreHooks
from integration_kit.postgres.snapshot import Snapshot, SnapshotCache, build_snapshot
from integration_kit.postgres.strategies import Strategy, TransactionStrategy, strategy_class
from integration_kit.postgres.strategies.base import recreate_from
from integration_kit.postgres.strategies.truncate import TruncateStrategy
from integration_kit.services.namespace import Namespace

log = logging.getLogger("integration_kit.postgres")

DataMigration = str | Path | Callable[[asyncpg.Connection], Any]


class IsolatedDatabase:
    """A working database cloned from a snapshot (migrations + seed), restored between tests.

    ``admin_dsn``: a DSN of the server whose role may create databases (its database is
    used for administration only). ``name``: base of the database names
    (``ik_<name>_gwN``). ``isolation``: ``transaction``, ``swap``, ``template`` or
    ``truncate``. ``cache``: share snapshots between instances (migrations run once).
    ``strategy_options`` go to the strategy (``spares=`` for swap).
    """

    def __init__(
        self,
        admin_dsn: str,
        *,
        name: str = "test",
        migrations: MigrationSource | None = None,
        seed: SeedHook | Sequence[SeedHook] | None = None,
        isolation: str = "transaction",
        namespace: Namespace | None = None,
        base_dirs: Iterable[Path] = (),
        cache: SnapshotCache | None = None,
        **strategy_options: Any,
    ) -> None:
        self._strategy_class = strategy_class(isolation)
        self.admin_dsn = admin_dsn
        self.name = name
        self.migrations = migrations
        self.seed = as_hooks(seed)
        self.namespace = namespace if namespace is not None else Namespace.current()
        self.base_dirs = list(base_dirs)
        self.cache = cache
        self.strategy_options = strategy_options
        self.janitor = Janitor(admin_dsn)
        self.snapshot: Snapshot | None = None
        self.strategy: Strategy | None = None
        self._own_snapshot = False
        self._named: dict[str, Snapshot] = {}
        self._savepoints: list[str] = []
        self._conn: asyncpg.Connection | None = None
        self._extra: list[asyncpg.Connection] = []
        self._dirty = False
        self._in_test = False
        self.hooks = RestoreHooks()
        self.listeners = Listeners(self._listener_dsn)

    # --- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> IsolatedDatabase:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def isolation(self) -> str:
        return self._strategy_class.name

    async def start(self) -> None:
        """Check privileges, reap leftovers, build (or reuse) the snapshot, clone the working database."""
        sources = resolve_sources(self.migrations, base_dirs=self.base_dirs)
        try:
            await self.janitor.open()
            template = self.namespace.database(f"ik_{self.name}_t{fingerprint(sources, self.seed)[:8]}")
            if self.cache is not None:
                self.snapshot = await self.cache.get(
                    self.janitor, template, migrations=sources, seed=self.seed, base_dirs=self.base_dirs
                )
            else:
                self.snapshot = await build_snapshot(
                    self.janitor, template, migrations=sources, seed=self.seed
                )
                self._own_snapshot = True
            working = self.namespace.database(f"ik_{self.name}")
            self.strategy = self._strategy_class(
                self.janitor, self.snapshot, working, **self.strategy_options
            )
            await self.strategy.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Drop everything this instance created (cached snapshots stay for other users)."""
        await self.listeners.close()
        await self._close_connections()
        try:
            if self.strategy is not None:
                await self.strategy.close()
            for snap in self._named.values():
                await self.janitor.drop(snap.database)
            self._named.clear()
            if self.snapshot is not None and self._own_snapshot:
                await self.janitor.drop(self.snapshot.database)
        finally:
            self.strategy = None
            await self.janitor.close()

    @property
    def _strategy(self) -> Strategy:
        if self.strategy is None:
            raise RuntimeError("IsolatedDatabase is not started")
        return self.strategy

    @property
    def _snapshot(self) -> Snapshot:
        assert self.snapshot is not None, "IsolatedDatabase is not started"
        return self.snapshot

    # --- connections ---------------------------------------------------------------

    @property
    def database(self) -> str:
        """The working database's name (stable across restores)."""
        return self._strategy.database

    @property
    def dsn(self) -> str:
        """DSN of the working database (what the app under test connects to)."""
        return self.janitor.dsn(self.database)

    def _listener_dsn(self) -> str:
        return self.dsn

    def on_restore(
        self,
        target: Any = None,
        *,
        before: Callable[[], Any] | None = None,
        after: Callable[[], Any] | None = None,
    ) -> Callable[[], None]:
        """Run hooks around every restore; returns a function that removes them.

        ``target``: a SQLAlchemy ``Engine``/``AsyncEngine`` (disposed before the restore),
        an asyncpg ``Pool`` (its connections expired before), a psycopg_pool
        ``ConnectionPool``/``AsyncConnectionPool`` (checked after), or a callable (run
        before). ``before``/``after``: callables (sync or async) run before the kit closes
        the connections to the database and after the restored database is in place.
        """
        return self.hooks.add(target, before=before, after=after)

    async def listen(self, channel: str, callback: Callable[..., Any]) -> None:
        """``LISTEN channel`` on a kit connection that is re-subscribed after every restore.

        ``callback(connection, pid, channel, payload)`` as for asyncpg's ``add_listener``.
        """
        await self.listeners.add(channel, callback)

    async def unlisten(self, channel: str, callback: Callable[..., Any]) -> None:
        await self.listeners.remove(channel, callback)

    async def connection(self) -> asyncpg.Connection:
        """The kit's connection to the working database (the test's connection)."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn, server_settings={"application_name": APPLICATION_NAME}
            )
        return self._conn

    async def connect(self, **kwargs: Any) -> asyncpg.Connection:
        """A new connection to the working database, closed at the end of the test."""
        conn = await asyncpg.connect(self.dsn, **kwargs)
        self._extra.append(conn)
        return conn

    async def _close_connections(self, *, kit: bool = True, wait: bool = True) -> list[int]:
        """Close the test's extra connections (and the kit's own); return their server pids.

        With ``wait``, return once the server sessions are gone (needed before a database
        is cloned, renamed or dropped); otherwise the caller passes the pids on.
        """
        closing = self._extra
        self._extra = []
        if kit and self._conn is not None:
            closing.append(self._conn)
            self._conn = None
        pids = [c.get_server_pid() for c in closing if not c.is_closed()]
        if kit:
            pids += self.listeners.detach()
        for conn in closing:
            conn.terminate()  # no goodbye round trip; the server notices the closed socket at once
        if wait and pids and self.strategy is not None and self.strategy.replaces_database:
            await self.janitor.wait_gone(pids)
        return pids

    # --- per test ----------------------------------------------------------------------

    async def begin_test(self) -> None:
        """Before a test: restore if the last one may have changed the database, then begin."""
        if self._dirty:
            await self._restore_base()
        self._savepoints.clear()
        await self._strategy.begin(await self.connection())
        self._in_test = True

    async def end_test(self) -> None:
        """After a test (also a failed one)."""
        self._in_test = False
        await self._close_connections(kit=False)
        dirty = await self._strategy.end(self._conn)
        self._savepoints.clear()
        self._dirty = self._dirty or dirty

    async def _restore_base(self) -> None:
        strategy = self._strategy
        async with self._around_restore():
            if isinstance(strategy, TruncateStrategy):
                await self._close_connections(kit=False)
                if not await strategy.restore_on(await self.connection()):
                    closing = await self._close_connections(wait=False)
                    await strategy.rebuild(closing=closing)
            else:
                closing = await self._close_connections(wait=False)
                await strategy.restore(closing=closing)
        self._dirty = False

    @contextlib.asynccontextmanager
    async def _around_restore(self) -> AsyncIterator[None]:
        """Registered hooks before; hooks and listeners (re-subscribed) after."""
        await self.hooks.run_before()
        yield
        await self.listeners.reattach()
        await self.hooks.run_after()

    # --- snapshots within a class ------------------------------------------------------

    def _savepoint_name(self, name: str) -> str:
        return quote_ident(f"ik_snapshot_{name}")

    async def snapshot_as(self, name: str) -> None:
        """Save the working database's current state as ``name`` (see :meth:`restore`).

        ``transaction``: a savepoint on the test's connection, valid until the test ends.
        Other strategies: a database cloned from the working one (its connections are
        closed first), valid until the class ends.
        """
        if isinstance(self._strategy, TransactionStrategy) and self._in_test:
            conn = await self.connection()
            await conn.execute(f"savepoint {self._savepoint_name(name)}")
            if name in self._savepoints:
                self._savepoints.remove(name)
            self._savepoints.append(name)
            return
        old = self._named.pop(name, None)
        if old is not None:
            await self.janitor.drop(old.database)
        target = self.janitor.derived_name(self.database, f"n{len(self._named)}_{abs(hash(name)) % 10**6}")
        async with self._around_restore():
            await self._close_connections()
            created = await self.janitor.clone_live(self.database, target)
        snap = Snapshot(name=name, database=created)
        await snap.capture(self.janitor)
        self._named[name] = snap
        if self._in_test:
            await self._rebegin()

    async def restore(self, name: str | None = None) -> None:
        """Back to snapshot ``name`` (default: the class's snapshot) within a test.

        Unknown names raise ``IK-PG-UNKNOWN-SNAPSHOT``.
        """
        strategy = self._strategy
        if name is None:
            if self._in_test:
                dirty = await strategy.end(self._conn)
                if dirty:
                    await self._restore_base()
                await strategy.begin(await self.connection())
                self._savepoints.clear()
            elif self._dirty:
                await self._restore_base()
            return
        if isinstance(strategy, TransactionStrategy) and name in self._savepoints:
            conn = await self.connection()
            await conn.execute(f"rollback to savepoint {self._savepoint_name(name)}")
            del self._savepoints[self._savepoints.index(name) + 1 :]
            return
        snap = self._named.get(name)
        if snap is None:
            known = sorted({*self._savepoints, *self._named}) or ["(none)"]
            raise PostgresError(ErrorCode.PG_UNKNOWN_SNAPSHOT, name=name, known=", ".join(known))
        if self._in_test:
            await strategy.end(self._conn)
        async with self._around_restore():
            await self._close_connections()
            await recreate_from(self.janitor, snap, self.database, reason=f"restoring snapshot {name!r}")
        self._dirty = True  # differs from the class snapshot now
        if self._in_test:
            await strategy.begin(await self.connection())

    async def _rebegin(self) -> None:
        await self._strategy.begin(await self.connection())

    # --- verification ------------------------------------------------------------------

    def _reference(self, name: str | None) -> Snapshot:
        if name is None:
            return self._snapshot
        snap = self._named.get(name)
        if snap is None:
            known = sorted(self._named) or ["(none)"]
            raise PostgresError(ErrorCode.PG_UNKNOWN_SNAPSHOT, name=name, known=", ".join(known))
        return snap

    async def diff(self, snapshot: str | None = None, *, sequences: bool | None = None) -> verify.Diff:
        """Everything that differs from a snapshot: rows of every table, partition and
        materialized view, sequences (``last_value``, ``is_called``), large objects, the
        schema (catalog objects by name) and the database-level state."""
        ref = self._reference(snapshot)
        if sequences is None:
            sequences = self._strategy.restores_sequences
        result = await verify.diff(
            await self.connection(),
            open_reference=lambda: ref.connect(self.janitor),
            reference_checksums=ref.checksums,
            reference_sequences=ref.sequence_states,
            reference_schema=ref.schema,
            reference_large_objects=ref.large_objects,
            sequences=sequences,
        )
        if ref.state is not None:
            # on the test's connection: under ``transaction`` its own changes are visible there
            now = await DatabaseState.read(await self.connection(), self.database)
            result.database = ref.state.differences(now)
        return result

    async def assert_unchanged(self, snapshot: str | None = None, *, sequences: bool | None = None) -> None:
        """Raise ``IK-PG-STATE-CHANGED`` if the database differs from the snapshot."""
        result = await self.diff(snapshot, sequences=sequences)
        verify.raise_if_changed(result, snapshot=snapshot or self._snapshot.name)

    # --- data migrations -----------------------------------------------------------------

    async def apply_data_migration(self, migration: DataMigration, *, idempotent: bool = True) -> None:
        """Apply ``migration`` to a copy of the snapshot, make that the snapshot, restore to it.

        ``migration``: SQL text, a ``.sql`` path, or a callable receiving an asyncpg
        connection (sync or async), run in a transaction. With ``idempotent`` it is run a
        second time (rolled back) and must not change any table; otherwise
        ``IK-PG-MIGRATION-NOT-IDEMPOTENT`` is raised and the snapshot stays as it was.
        """
        old = self._snapshot
        target = self.janitor.derived_name(
            self.namespace.database(f"ik_{self.name}"), f"dm{id(migration) % 10**6}"
        )
        created = await old.clone_to(self.janitor, target)
        new = Snapshot(name=old.name, database=created)
        try:
            dsn = self.janitor.dsn(created)
            conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
            try:
                await _run_data_migration(conn, migration)
                if idempotent:
                    await self._check_idempotent(conn, dsn, migration)
            finally:
                await conn.close()
            await new.capture(self.janitor)
        except BaseException:
            await self.janitor.drop(created)
            raise
        self.snapshot = new
        if self._own_snapshot:
            await self.janitor.drop(old.database)
        self._own_snapshot = True
        await self._strategy.rebase(new)
        in_test = self._in_test
        if in_test:
            await self._strategy.end(self._conn)
        async with self._around_restore():
            await self._close_connections()
            await recreate_from(self.janitor, new, self.database, reason="applying a data migration")
        self._dirty = False
        if in_test:
            await self._strategy.begin(await self.connection())

    async def _check_idempotent(self, conn: asyncpg.Connection, dsn: str, migration: DataMigration) -> None:
        """Run ``migration`` again in a transaction and compare with the committed state."""
        committed = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
        try:
            tx = conn.transaction()
            await tx.start()
            try:
                await _run_data_migration(conn, migration)
                again = await verify.diff(conn, committed, sequences=False)
            finally:
                await tx.rollback()
        finally:
            await committed.close()
        if again:
            raise PostgresError(
                ErrorCode.PG_MIGRATION_NOT_IDEMPOTENT, migration=_describe(migration), diff=str(again)
            )


async def _run_data_migration(conn: asyncpg.Connection, migration: DataMigration) -> None:
    async with conn.transaction():
        if callable(migration) and not isinstance(migration, str | Path):
            result = migration(conn)
            if inspect.isawaitable(result):
                await result
            return
        if isinstance(migration, Path) or (isinstance(migration, str) and migration.endswith(".sql")):
            text = Path(migration).read_text()
        else:
            text = str(migration)
        for statement in split_statements(text):
            await conn.execute(statement)


def _describe(migration: DataMigration) -> str:
    if callable(migration) and not isinstance(migration, str | Path):
        return getattr(migration, "__qualname__", repr(migration))
    text = " ".join(str(migration).split())
    return text if len(text) <= 120 else text[:117] + "..."
