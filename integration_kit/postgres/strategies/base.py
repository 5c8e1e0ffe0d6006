"""What an isolation strategy is: how a working database returns to its snapshot."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg

from integration_kit.postgres.janitor import Janitor
from integration_kit.postgres.snapshot import Snapshot

log = logging.getLogger("integration_kit.postgres")


class Strategy:
    """Base of the isolation strategies.

    The working database (``self.database``, the name tests and the app connect to)
    starts as a clone of ``snapshot``. Around each test the owner calls ``begin(conn)``
    and ``end(conn)`` (``end`` says whether the database may now differ from the
    snapshot), and ``restore()`` before a test when it does. ``close()`` drops
    everything the strategy created.
    """

    name: ClassVar[str] = ""
    restores_sequences: ClassVar[bool] = True
    replaces_database: ClassVar[bool] = True
    """Whether ``restore()`` replaces the database (the kit's connections must be closed first)."""

    def __init__(self, janitor: Janitor, snapshot: Snapshot, database: str, **options: Any) -> None:
        self.janitor = janitor
        self.snapshot = snapshot
        self.database = database
        self.options = options

    async def start(self) -> None:
        """Create the working database from the snapshot."""
        self.database = await self.snapshot.clone_to(self.janitor, self.database)

    async def begin(self, conn: asyncpg.Connection) -> None:
        """Before a test, on the handle's connection."""

    async def end(self, conn: asyncpg.Connection | None) -> bool:
        """After a test; return whether the database may differ from the snapshot."""
        return True

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        """Bring the working database back to the snapshot (the critical path).

        ``closing``: server pids of the kit's own connections, just closed (not yet gone).
        """
        raise NotImplementedError

    async def rebase(self, snapshot: Snapshot) -> None:
        """The snapshot was replaced (data migration): restore from the new one from now on."""
        self.snapshot = snapshot

    async def close(self) -> None:
        """Drop the working database and whatever else the strategy created."""
        await self.janitor.drop(self.database)


async def recreate_from(
    janitor: Janitor, snapshot: Snapshot, database: str, *, reason: str, closing: Sequence[int] = ()
) -> None:
    """DROP the database (terminating sessions, logged) and clone it again from ``snapshot``."""
    await janitor.terminate(database, reason=reason, ignore=closing, wait=False)
    await janitor.drop(database)
    await snapshot.clone_to(janitor, database, fallback=False)
