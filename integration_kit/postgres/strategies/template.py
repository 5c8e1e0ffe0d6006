"""``template``: drop the working database and clone it again from the snapshot.

Restores everything, sequences included. Cost: DROP + CREATE DATABASE ... TEMPLATE
(FILE_COPY) on the critical path, so it grows with the database size.
"""

from __future__ import annotations

from collections.abc import Sequence

from integration_kit.postgres.strategies.base import Strategy, recreate_from


class TemplateStrategy(Strategy):
    name = "template"
    restores_sequences = True

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        await recreate_from(
            self.janitor, self.snapshot, self.database, reason="restoring it (template)", closing=closing
        )
