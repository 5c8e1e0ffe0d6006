"""``transaction``: tests run inside one transaction on the handle's connection; each test
is rolled back to a savepoint.

The cheapest strategy (one round trip: ``ROLLBACK TO SAVEPOINT``), for code under test
that uses the test's connection (``self.postgres.connection``); its own
``transaction()`` blocks become nested savepoints. Commits made on *other* connections
are not undone, and sequences are not restored (``nextval`` is not transactional).
``now()`` is the time the class's transaction began (use ``clock_timestamp()`` for the
wall clock). If a test ends the kit's transaction itself (a raw ``COMMIT`` or
``ROLLBACK``), the database is recreated from the snapshot (template) with a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from integration_kit.postgres.strategies.base import Strategy, log, recreate_from

SAVEPOINT = "ik_test"


class TransactionStrategy(Strategy):
    name = "transaction"
    restores_sequences = False

    _top: asyncpg.transaction.Transaction | None = None
    _conn: asyncpg.Connection | None = None
    _active = False

    async def begin(self, conn: asyncpg.Connection) -> None:
        same = self._conn is conn
        if self._top is None or not same or not conn.is_in_transaction():
            self._top = conn.transaction()
            await self._top.start()
            await conn.execute(f"savepoint {SAVEPOINT}")
            self._conn = conn
        self._active = True

    async def end(self, conn: asyncpg.Connection | None) -> bool:
        if not self._active:
            return False
        self._active = False
        same = self._conn is conn
        if conn is None or conn.is_closed() or not same:
            self._top = None
            return True
        if conn.is_in_transaction():
            try:
                await conn.execute(f"rollback to savepoint {SAVEPOINT}")
                return False
            except asyncpg.PostgresError:
                pass  # the test released or rolled back past the kit's savepoint
        log.warning(
            "integration-kit: the test ended the kit's transaction on database %r itself "
            "(COMMIT/ROLLBACK/RELEASE); recreating the database from the snapshot",
            self.database,
        )
        self._top = None
        return True

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        # only reached when a test escaped the transaction
        self._top = None
        await recreate_from(
            self.janitor, self.snapshot, self.database, reason="restoring it (template)", closing=closing
        )
