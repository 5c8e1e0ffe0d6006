"""``transaction``: each test runs in a transaction on the handle's connection, rolled back after.

The cheapest strategy (one round trip), for code under test that uses the test's
connection (``self.postgres.connection``); its own ``transaction()`` blocks become
savepoints. Commits made on *other* connections are not undone, and sequences are not
restored (``nextval`` is not transactional). If the test ends the kit's transaction
itself (a raw ``COMMIT``), the database is recreated from the snapshot (template) with a
warning.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from integration_kit.postgres.strategies.base import Strategy, log, recreate_from


class TransactionStrategy(Strategy):
    name = "transaction"
    restores_sequences = False

    _tx: asyncpg.transaction.Transaction | None = None

    async def begin(self, conn: asyncpg.Connection) -> None:
        self._tx = conn.transaction()
        await self._tx.start()

    async def end(self, conn: asyncpg.Connection | None) -> bool:
        tx, self._tx = self._tx, None
        if tx is None or conn is None or conn.is_closed():
            return tx is not None
        if not conn.is_in_transaction():
            log.warning(
                "integration-kit: the test ended the kit's transaction on database %r itself "
                "(COMMIT/ROLLBACK); recreating the database from the snapshot",
                self.database,
            )
            return True
        await tx.rollback()
        return False

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        # only reached when a test escaped the transaction
        await recreate_from(
            self.janitor, self.snapshot, self.database, reason="restoring it (template)", closing=closing
        )
