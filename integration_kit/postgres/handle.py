"""``PostgresHandle``: what a test sees as ``self.postgres``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg

from integration_kit.postgres import verify
from integration_kit.postgres.database import DataMigration, IsolatedDatabase


class PostgresHandle:
    """The test's view of its database.

    ``dsn`` is the current test database (give it to the app under test);
    ``connection`` is the test's own connection (under ``transaction`` isolation, code
    under test must use it to have its changes rolled back).
    """

    def __init__(self, database: IsolatedDatabase, connection: asyncpg.Connection) -> None:
        self._db = database
        self._connection = connection

    @property
    def dsn(self) -> str:
        return self._db.dsn

    @property
    def database(self) -> str:
        return self._db.database

    @property
    def isolation(self) -> str:
        return self._db.isolation

    @property
    def restores_sequences(self) -> bool:
        """Whether the isolation strategy restores sequence values between tests."""
        return self._db._strategy.restores_sequences

    @property
    def connection(self) -> asyncpg.Connection:
        """The test's connection (reopened after restores that replace the database)."""
        conn = self._db._conn
        return conn if conn is not None and not conn.is_closed() else self._connection

    async def _conn(self) -> asyncpg.Connection:
        self._connection = await self._db.connection()
        return self._connection

    async def connect(self, **kwargs: Any) -> asyncpg.Connection:
        """A new connection to the test database (as the app would open), closed after the test."""
        return await self._db.connect(**kwargs)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await (await self._conn()).fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await (await self._conn()).fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await (await self._conn()).fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        return await (await self._conn()).execute(query, *args)

    async def snapshot(self, name: str) -> None:
        """Save the current state as ``name`` (``transaction``: a savepoint for this test)."""
        await self._db.snapshot_as(name)

    async def restore(self, name: str | None = None) -> None:
        """Back to ``name`` (default: the class's snapshot). ``IK-PG-UNKNOWN-SNAPSHOT`` if unknown."""
        await self._db.restore(name)

    def on_restore(
        self,
        target: Any = None,
        *,
        before: Callable[[], Any] | None = None,
        after: Callable[[], Any] | None = None,
    ) -> Callable[[], None]:
        """Keep the app's pool usable across restores (until the class ends; returns a remover).

        ``target``: a SQLAlchemy ``Engine``/``AsyncEngine`` (disposed before each restore),
        an asyncpg ``Pool`` (connections expired), a psycopg_pool pool (checked after), or
        a callable; ``before``/``after``: callables (sync or async).
        """
        return self._db.on_restore(target, before=before, after=after)

    async def listen(self, channel: str, callback: Callable[..., Any]) -> None:
        """``LISTEN channel`` on a kit connection re-subscribed after every restore;
        ``callback(connection, pid, channel, payload)``."""
        await self._db.listen(channel, callback)

    async def unlisten(self, channel: str, callback: Callable[..., Any]) -> None:
        await self._db.unlisten(channel, callback)

    async def table_counts(self) -> dict[str, int]:
        return await verify.table_counts(await self._conn())

    async def table_checksums(self) -> dict[str, verify.Checksum]:
        return await verify.table_checksums(await self._conn())

    async def sequence_values(self) -> dict[str, int | None]:
        return await verify.sequence_values(await self._conn())

    async def sequence_states(self) -> dict[str, verify.SequenceState]:
        """``last_value`` and ``is_called`` of every sequence."""
        return await verify.sequence_states(await self._conn())

    async def assert_rows(
        self, table: str, rows: Sequence[Mapping[str, Any]], *, ordered: bool = False
    ) -> None:
        """Assert ``table`` holds exactly ``rows`` (only the columns they name are compared)."""
        await verify.assert_rows(await self._conn(), table, rows, ordered=ordered)

    async def diff(self, snapshot: str | None = None, *, sequences: bool | None = None) -> verify.Diff:
        """What differs from the snapshot (default: the class's): rows of every relation,
        sequences, large objects, schema objects, database-level state."""
        return await self._db.diff(snapshot, sequences=sequences)

    async def assert_unchanged(self, snapshot: str | None = None, *, sequences: bool | None = None) -> None:
        """``IK-PG-STATE-CHANGED`` if the database differs from the snapshot."""
        await self._db.assert_unchanged(snapshot, sequences=sequences)

    async def apply_data_migration(self, migration: DataMigration, *, idempotent: bool = True) -> None:
        """Apply a data migration to the class's snapshot and continue from the migrated state."""
        await self._db.apply_data_migration(migration, idempotent=idempotent)
