"""``truncate``: TRUNCATE every table and reload the snapshot's rows with COPY, or rebuild.

The snapshot's rows are read once (binary COPY of every leaf table: plain tables,
partitions, unlogged tables; a partitioned parent holds no rows of its own) and kept in
memory. A restore first compares the working database's schema fingerprint, its
database-level state and the materialized views that a refresh cannot reproduce with the
snapshot's; if anything differs (a test dropped or altered a table, created a schema,
changed a comment, a grant, a database setting...) the database is rebuilt from the
snapshot instead (``CREATE DATABASE ... TEMPLATE``, logged). Otherwise, in one
transaction, it truncates the leaf tables, copies the rows back with foreign-key checks
and triggers off (``session_replication_role = replica``; without the privilege to set
it, tables are loaded parents first), refreshes the materialized views, sets every
sequence back exactly (``last_value`` and ``is_called``) and restores the large objects.
A restore that fails for any reason falls back to the rebuild as well, so a test can
never leave its class in a state the next test cannot start from. Cost grows with the
row count.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from integration_kit.postgres import catalog, verify
from integration_kit.postgres.database_state import DatabaseState
from integration_kit.postgres.janitor import quote_ident
from integration_kit.postgres.strategies.base import Strategy, log, recreate_from

_LEAVES_SQL = """
select n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'r'
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
order by 1, 2
"""

# Foreign keys between leaf tables (a key on a partitioned table is cloned onto every
# partition, so both ends are mapped to leaves).
_FKEYS_SQL = """
select cn.nspname as child_schema, cc.relname as child, pn.nspname as parent_schema, pc.relname as parent
from pg_constraint c
join pg_class cc on cc.oid = c.conrelid join pg_namespace cn on cn.oid = cc.relnamespace
join pg_class pc on pc.oid = c.confrelid join pg_namespace pn on pn.oid = pc.relnamespace
where c.contype = 'f' and c.conrelid <> c.confrelid and cc.relkind = 'r' and pc.relkind = 'r'
"""

_MATVIEWS_SQL = """
select n.nspname as schema, c.relname as name, pg_get_viewdef(c.oid) as query
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'm' and c.relispopulated
  and n.nspname not in ('pg_catalog', 'information_schema')
order by c.oid
"""

_LARGE_OBJECTS_SQL = """
select m.oid::bigint as oid, pg_get_userbyid(m.lomowner) as owner, lo_get(m.oid) as data,
    (select json_agg(json_build_array(coalesce(r.rolname, ''), x.privilege_type, x.is_grantable))::text
     from aclexplode(m.lomacl) x left join pg_roles r on r.oid = x.grantee) as grants
from pg_largeobject_metadata m order by 1
"""


@dataclass(frozen=True)
class _LargeObject:
    oid: int
    owner: str
    data: bytes
    grants: str | None


class TruncateStrategy(Strategy):
    name = "truncate"
    restores_sequences = True
    replaces_database = False

    _data: dict[verify.Table, bytes]
    _order: list[verify.Table]
    _sequences: str
    _fresh_matviews: list[verify.Table]
    _stale_matviews: dict[str, verify.Checksum]
    _large_objects: list[_LargeObject]
    _replica: bool | None = None
    rebuilds = 0
    """How many restores rebuilt the database instead of reloading it (for tests and tuning)."""

    async def start(self) -> None:
        await super().start()
        await self._load()

    async def rebase(self, snapshot: Any) -> None:
        await super().rebase(snapshot)
        await self._load()

    async def _load(self) -> None:
        self._data = {}
        async with self.snapshot.connect(self.janitor) as conn:
            leaves = [verify.Table(r["schema"], r["name"]) for r in await conn.fetch(_LEAVES_SQL)]
            for table in leaves:
                buffer = io.BytesIO()
                await conn.copy_from_table(
                    table.name, schema_name=table.schema, output=buffer, format="binary"
                )
                self._data[table] = buffer.getvalue()
            self._order = _parents_first(leaves, await conn.fetch(_FKEYS_SQL))
            states = await verify.sequence_states(conn)
            self._sequences = ", ".join(
                f"pg_catalog.setval({_lit(verify.parse_table(name).sql)}, {state.last_value}, "
                f"{'true' if state.is_called else 'false'})"
                for name, state in states.items()
            )
            self._fresh_matviews = []
            self._stale_matviews = {}
            for row in await conn.fetch(_MATVIEWS_SQL):
                view = verify.Table(row["schema"], row["name"])
                if await _matview_is_fresh(conn, view, row["query"]):
                    self._fresh_matviews.append(view)
                else:  # a refresh would change it: compared at each restore instead
                    self._stale_matviews[view.key] = (await verify.table_checksums(conn, [view]))[view.key]
            self._large_objects = [
                _LargeObject(r["oid"], r["owner"], bytes(r["data"]), r["grants"])
                for r in await conn.fetch(_LARGE_OBJECTS_SQL)
            ]

    # --- restoring ---------------------------------------------------------------------

    async def unchanged_schema(self, conn: asyncpg.Connection) -> str | None:
        """``None`` if a reload can restore the database exactly, else what prevents it."""
        objects = await catalog.schema_objects(conn)
        if catalog.digest(objects) != self.snapshot.schema_digest:
            changed = catalog.compare(self.snapshot.schema, objects)
            listed = ", ".join(f"{what} {identity}" for identity, what in list(changed.items())[:5])
            more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
            return f"the schema changed ({listed}{more})"
        if self.snapshot.state is not None:
            state = await DatabaseState.read(self.janitor.pool, self.database)
            changed_state = self.snapshot.state.differences(state)
            if changed_state:
                return "database-level state changed (" + ", ".join(changed_state) + ")"
        if self._stale_matviews:
            views = [verify.parse_table(k) for k in self._stale_matviews]
            now = await verify.table_checksums(conn, views)
            changed_views = [k for k, v in self._stale_matviews.items() if now.get(k) != v]
            if changed_views:
                return "materialized view(s) that were stale in the snapshot changed: " + ", ".join(
                    changed_views
                )
        return None

    async def restore_on(self, conn: asyncpg.Connection) -> bool:
        """Reload through ``conn`` (a connection to the working database).

        Returns ``False`` when the database must be rebuilt instead (:meth:`rebuild`):
        the schema or database-level state changed, or the reload failed.
        """
        await self.janitor.terminate(
            self.database,
            reason="restoring it (truncate; sessions in a transaction would block)",
            only_in_transaction=True,
        )
        try:
            why = await self.unchanged_schema(conn)
            if why is None:
                await self._reload(conn)
                return True
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if conn.is_closed():
                raise
            why = f"the reload failed: {type(exc).__name__}: {exc}"
        log.warning(
            "integration-kit: truncate cannot restore database %r in place: %s; "
            "rebuilding it from the snapshot (template)",
            self.database,
            why,
        )
        return False

    async def rebuild(self, *, closing: Sequence[int] = ()) -> None:
        """Recreate the working database from the snapshot (its connections must be closed)."""
        self.rebuilds += 1
        await recreate_from(
            self.janitor,
            self.snapshot,
            self.database,
            reason="rebuilding it (truncate could not restore it in place)",
            closing=closing,
        )

    async def _reload(self, conn: asyncpg.Connection) -> None:
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
            for view in self._fresh_matviews:
                await conn.execute(f"refresh materialized view {view.sql}")
            if self._sequences:
                await conn.execute("select " + self._sequences)
            await self._restore_large_objects(conn)

    async def _restore_large_objects(self, conn: asyncpg.Connection) -> None:
        if not self._large_objects and not await conn.fetchval(
            "select exists (select 1 from pg_catalog.pg_largeobject_metadata)"
        ):
            return
        await conn.execute("select pg_catalog.lo_unlink(oid) from pg_catalog.pg_largeobject_metadata")
        import json

        role = await conn.fetchval("select current_user")
        for lo in self._large_objects:
            await conn.execute("select pg_catalog.lo_from_bytea($1::oid, $2)", lo.oid, lo.data)
            if lo.owner != role:
                await conn.execute(f"alter large object {lo.oid} owner to {quote_ident(lo.owner)}")
            if lo.grants is not None:
                await conn.execute(f"revoke all on large object {lo.oid} from public")
                for grantee, privilege, grantable in json.loads(lo.grants):
                    who = quote_ident(grantee) if grantee else "public"
                    option = " with grant option" if grantable else ""
                    await conn.execute(f"grant {privilege} on large object {lo.oid} to {who}{option}")

    async def restore(self, *, closing: Sequence[int] = ()) -> None:
        conn = await asyncpg.connect(self.janitor.dsn(self.database))
        try:
            done = await self.restore_on(conn)
        finally:
            await conn.close()
        if not done:
            await self.rebuild()


async def _matview_is_fresh(conn: asyncpg.Connection, view: verify.Table, query: str) -> bool:
    """Whether refreshing ``view`` would reproduce its current contents."""
    body = query.strip().rstrip(";")
    sql = (
        "select count(*) as n, coalesce(md5(string_agg(h, '' order by h)), '') as d "
        f"from (select md5(t::text) as h from ({body}) t) s"
    )
    try:
        expected = await conn.fetchrow(sql)
    except asyncpg.PostgresError:
        return False
    actual = (await verify.table_checksums(conn, [view]))[view.key]
    return bool(actual == verify.Checksum(expected["n"], expected["d"]))


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
