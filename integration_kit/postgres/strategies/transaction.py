"""``transaction``: tests run inside one transaction on the handle's connection; each test
is rolled back to a savepoint.

The cheapest strategy (one round trip: ``ROLLBACK TO SAVEPOINT``), for code under test
that uses the test's connection (``self.postgres.connection``); its own
``transaction()`` blocks become nested savepoints. Commits made on *other* connections
are not undone. Sequences (``nextval`` is not transactional) are set back to the
snapshot's states in the same round trip as the rollback. ``NOTIFY`` on the test's
connection is never delivered (notifications are sent at commit, and the class's
transaction never commits).
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
    restores_sequences = True

    _top: asyncpg.transaction.Transaction | None = None
    _conn: asyncpg.Connection | None = None
    _active = False
    _setval_for: object = None
    _setval_sql = ""

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
                await conn.execute(f"rollback to savepoint {SAVEPOINT}{self._setval()}")
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

    def _setval(self) -> str:
        """``; select setval(...), ...`` putting every sequence back (empty without sequences)."""
        if self._setval_for is self.snapshot:
            return self._setval_sql
        states = self.snapshot.sequence_states
        self._setval_for, self._setval_sql = self.snapshot, ""
        if not states:
            return ""
        from integration_kit.postgres import verify

        calls = ", ".join(
            f"pg_catalog.setval('{verify.parse_table(name).sql.replace(chr(39), chr(39) * 2)}', "
            f"{state.last_value}, {'true' if state.is_called else 'false'})"
            for name, state in states.items()
        )
        self._setval_sql = f"; select {calls}"
        return self._setval_sql

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        # only reached when a test escaped the transaction
        self._top = None
        await recreate_from(
            self.janitor, self.snapshot, self.database, reason="restoring it (template)", closing=closing
        )
