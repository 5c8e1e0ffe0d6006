"""``truncate``: TRUNCATE every table and reload the snapshot's rows with COPY.

The snapshot's rows are read once (binary COPY) and kept in memory; a restore truncates
all tables in one statement and copies the rows back with foreign-key checks and
triggers off (``session_replication_role = replica``; without the privilege to set it,
tables are loaded parents first). Sequences are set back to the snapshot's values.
Tables created by a test are left alone. The baseline strategy, and fine for tiny
databases; cost grows with the row count.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import asyncpg

from integration_kit.postgres import verify
from integration_kit.postgres.janitor import quote_ident
from integration_kit.postgres.strategies.base import Strategy, log

_FKEYS_SQL = """
select cn.nspname as child_schema, cc.relname as child, pn.nspname as parent_schema, pc.relname as parent
from pg_constraint c
join pg_class cc on cc.oid = c.conrelid join pg_namespace cn on cn.oid = cc.relnamespace
join pg_class pc on pc.oid = c.confrelid join pg_namespace pn on pn.oid = pc.relnamespace
where c.contype = 'f' and c.conrelid <> c.confrelid
"""


class TruncateStrategy(Strategy):
    name = "truncate"
    restores_sequences = True
    replaces_database = False

    _data: dict[verify.Table, bytes]
    _order: list[verify.Table]
    _sequences: list[tuple[str, int | None, int]]
    _replica: bool | None = None

    async def start(self) -> None:
        await super().start()
        await self._load()

    async def rebase(self, snapshot: Any) -> None:
        await super().rebase(snapshot)
        await self._load()

    async def _load(self) -> None:
        self._data = {}
        async with self.snapshot.connect(self.janitor) as conn:
            tables = await verify.tables(conn)
            for table in tables:
                buffer = io.BytesIO()
                await conn.copy_from_table(
                    table.name, schema_name=table.schema, output=buffer, format="binary"
                )
                self._data[table] = buffer.getvalue()
            self._order = _parents_first(tables, await conn.fetch(_FKEYS_SQL))
            self._sequences = [
                (
                    f"{quote_ident(r['schemaname'])}.{quote_ident(r['sequencename'])}",
                    r["last_value"],
                    r["start_value"],
                )
                for r in await conn.fetch(
                    "select schemaname, sequencename, last_value, start_value from pg_sequences"
                )
            ]

    async def restore_on(self, conn: asyncpg.Connection) -> None:
        """Truncate and reload through ``conn`` (a connection to the working database)."""
        await self.janitor.terminate(
            self.database,
            reason="restoring it (truncate; sessions in a transaction would block)",
            only_in_transaction=True,
        )
        async with conn.transaction():
            if self._replica is not False:
                try:
                    async with conn.transaction():
                        await conn.execute("set local session_replication_role = replica")
                    self._replica = True
                except asyncpg.InsufficientPrivilegeError:
                    log.info(
                        "integration-kit: no privilege for session_replication_role; loading parents first"
                    )
                    self._replica = False
            if self._order:
                await conn.execute("truncate " + ", ".join(t.sql for t in self._order))
            for table in self._order:
                data = self._data[table]
                if len(data) > 21:  # binary COPY header + trailer only: no rows
                    await conn.copy_to_table(
                        table.name, schema_name=table.schema, source=io.BytesIO(data), format="binary"
                    )
            if self._sequences:
                await conn.execute(
                    "select "
                    + ", ".join(
                        f"setval({_lit(name)}, {start}, false)"
                        if last is None
                        else f"setval({_lit(name)}, {last}, true)"
                        for name, last, start in self._sequences
                    )
                )

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        conn = await asyncpg.connect(self.janitor.dsn(self.database))
        try:
            await self.restore_on(conn)
        finally:
            await conn.close()


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parents_first(tables: list[verify.Table], fkeys: list[asyncpg.Record]) -> list[verify.Table]:
    """Topological order: referenced tables before the tables referencing them."""
    known = set(tables)
    parents: dict[verify.Table, set[verify.Table]] = {t: set() for t in tables}
    for row in fkeys:
        child = verify.Table(row["child_schema"], row["child"])
        parent = verify.Table(row["parent_schema"], row["parent"])
        if child in known and parent in known:
            parents[child].add(parent)
    ordered: list[verify.Table] = []
    done: set[verify.Table] = set()

    def visit(table: verify.Table, stack: frozenset[verify.Table]) -> None:
        if table in done or table in stack:
            return
        for parent in sorted(parents[table], key=lambda t: (t.schema, t.name)):
            visit(parent, stack | {table})
        done.add(table)
        ordered.append(table)

    for table in tables:
        visit(table, frozenset())
    return ordered
