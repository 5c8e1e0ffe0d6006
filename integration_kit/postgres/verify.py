"""State verification: table lists, counts, checksums, sequence values, diffs.

Every function takes an asyncpg connection (or anything with ``fetch``/``fetchval``),
so it works inside the test's transaction as well as on any other database. Tables are
named ``table`` in the ``public`` schema and ``schema.table`` elsewhere.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from integration_kit.errors import ErrorCode, PostgresError
from integration_kit.postgres.janitor import quote_ident

_TABLES_SQL = """
select n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p') and not c.relispartition
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
order by 1, 2
"""

_RELATIONS_SQL = """
select n.nspname as schema, c.relname as name
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where (c.relkind in ('r', 'p') or (c.relkind = 'm' and c.relispopulated))
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
order by 1, 2
"""

_LARGE_OBJECTS_SQL = """
select m.oid::bigint as oid, md5(lo_get(m.oid)) as digest from pg_largeobject_metadata m order by 1
"""

_SEQUENCES_SQL = """
select schemaname as schema, sequencename as name, last_value, start_value
from pg_sequences order by 1, 2
"""

_PKEY_SQL = """
select a.attname
from pg_index i
join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
where i.indrelid = $1::regclass and i.indisprimary
order by array_position(i.indkey::int[], a.attnum::int)
"""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str

    @property
    def key(self) -> str:
        """``name`` in ``public``, ``schema.name`` elsewhere."""
        return self.name if self.schema == "public" else f"{self.schema}.{self.name}"

    @property
    def sql(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"


def parse_table(name: str) -> Table:
    schema, _, table = name.rpartition(".")
    return Table(schema or "public", table)


async def tables(conn: Any) -> list[Table]:
    """User tables (partitioned tables once, without their partitions)."""
    return [Table(r["schema"], r["name"]) for r in await conn.fetch(_TABLES_SQL)]


async def relations(conn: Any) -> list[Table]:
    """Every relation holding rows: tables, partitioned tables *and* their partitions,
    populated materialized views."""
    return [Table(r["schema"], r["name"]) for r in await conn.fetch(_RELATIONS_SQL)]


async def table_counts(conn: Any) -> dict[str, int]:
    """Row count of every user table."""
    found = await tables(conn)
    if not found:
        return {}
    sql = " union all ".join(f"select {i} as i, count(*) as n from {t.sql}" for i, t in enumerate(found))
    rows = await conn.fetch(sql)
    return {found[r["i"]].key: r["n"] for r in rows}


@dataclass(frozen=True)
class Checksum:
    """Order-independent digest of a table's contents."""

    rows: int
    digest: str


async def table_checksums(conn: Any, only: Iterable[Table] | None = None) -> dict[str, Checksum]:
    """Checksum (row count + md5 over the sorted row md5s) of every relation holding rows
    (tables, partitions, populated materialized views; see :func:`relations`)."""
    found = list(only) if only is not None else await relations(conn)
    if not found:
        return {}
    sql = " union all ".join(
        f"select {i} as i, count(*) as n, "
        f"coalesce(md5(string_agg(h, '' order by h)), '') as d "
        f"from (select md5(t::text) as h from {t.sql} t) s"
        for i, t in enumerate(found)
    )
    rows = await conn.fetch(sql)
    return {found[r["i"]].key: Checksum(r["n"], r["d"]) for r in rows}


async def sequence_values(conn: Any) -> dict[str, int | None]:
    """``last_value`` of every sequence (``None`` while ``nextval`` was never called)."""
    rows = await conn.fetch(_SEQUENCES_SQL)
    return {
        (r["name"] if r["schema"] == "public" else f"{r['schema']}.{r['name']}"): r["last_value"]
        for r in rows
    }


@dataclass(frozen=True)
class SequenceState:
    """A sequence's position: ``nextval`` returns ``last_value`` + increment when
    ``is_called``, else ``last_value`` itself (after ``setval(s, v, false)``)."""

    last_value: int
    is_called: bool

    def __str__(self) -> str:
        return f"{self.last_value}{'' if self.is_called else ' (not called)'}"


async def sequence_states(conn: Any) -> dict[str, SequenceState]:
    """``last_value`` and ``is_called`` of every sequence, read from the sequence itself."""
    rows = await conn.fetch(_SEQUENCES_SQL)
    if not rows:
        return {}
    names = [Table(r["schema"], r["name"]) for r in rows]
    sql = " union all ".join(
        f"select {i} as i, last_value, is_called from {t.sql}" for i, t in enumerate(names)
    )
    return {names[r["i"]].key: SequenceState(r["last_value"], r["is_called"]) for r in await conn.fetch(sql)}


async def large_objects(conn: Any) -> dict[int, str]:
    """``{oid: md5 of the contents}`` of every large object."""
    return {r["oid"]: r["digest"] for r in await conn.fetch(_LARGE_OBJECTS_SQL)}


async def primary_key(conn: Any, table: Table) -> list[str]:
    return [r["attname"] for r in await conn.fetch(_PKEY_SQL, table.sql)]


async def rows_as_dicts(conn: Any, table: Table, *, order_by: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every row of ``table`` as a JSON-compatible dict."""
    order = ""
    if order_by:
        order = " order by " + ", ".join(quote_ident(c) for c in order_by)
    rows = await conn.fetch(f"select to_jsonb(t)::text as j from {table.sql} t{order}")
    return [json.loads(r["j"]) for r in rows]


async def assert_rows(
    conn: Any, table: str, expected: Sequence[Mapping[str, Any]], *, ordered: bool = False
) -> None:
    """Assert ``table`` holds exactly ``expected`` rows.

    Only the columns named in the expected rows are compared (JSON-compatible values:
    numbers, strings, booleans, None, lists, dicts). Order matters only with ``ordered``
    (then rows are read in primary-key order).
    """
    tbl = parse_table(table)
    columns = sorted({c for row in expected for c in row})
    order_by = await primary_key(conn, tbl) if ordered else ()
    actual = await rows_as_dicts(conn, tbl, order_by=order_by)
    project = [{c: row.get(c) for c in columns} for row in actual]
    wanted = [{c: _jsonable(row.get(c)) for c in columns} for row in expected]
    ok = project == wanted if ordered else Counter(map(_canon, project)) == Counter(map(_canon, wanted))
    if not ok:
        missing = [r for r in wanted if r not in project]
        unexpected = [r for r in project if r not in wanted]
        raise AssertionError(
            f"table {table!r}: expected {len(wanted)} row(s), found {len(project)}"
            f"\n  missing: {missing[:10]}\n  unexpected: {unexpected[:10]}"
        )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _canon(row: Mapping[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


@dataclass
class TableDiff:
    """Rows of one table that differ from the snapshot (``changed`` pairs by primary key)."""

    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        return f"+{len(self.added)} -{len(self.removed)} ~{len(self.changed)}"


@dataclass
class Diff:
    """How a database differs from a snapshot. Falsy when equal.

    ``tables``: rows per relation (tables, partitions, materialized views);
    ``sequences``: ``(before, after)`` :class:`SequenceState` (``None``: no such sequence);
    ``large_objects``: ``{oid: 'added' | 'removed' | 'changed'}``; ``schema``: catalog
    objects that differ (``{identity: 'added' | 'removed' | 'changed'}``, see
    :mod:`~integration_kit.postgres.catalog`); ``database``: database-level state
    (settings, grants, owner, connection limit, comment) as ``{part: (before, after)}``.
    """

    tables: dict[str, TableDiff] = field(default_factory=dict)
    new_tables: list[str] = field(default_factory=list)
    dropped_tables: list[str] = field(default_factory=list)
    sequences: dict[str, tuple[SequenceState | None, SequenceState | None]] = field(default_factory=dict)
    large_objects: dict[int, str] = field(default_factory=dict)
    schema: dict[str, str] = field(default_factory=dict)
    database: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.tables
            or self.new_tables
            or self.dropped_tables
            or self.sequences
            or self.large_objects
            or self.schema
            or self.database
        )

    def __str__(self) -> str:
        if not self:
            return "no differences"
        parts = [f"{name}: {d.summary()}" for name, d in self.tables.items()]
        parts += [f"new table {t}" for t in self.new_tables]
        parts += [f"dropped table {t}" for t in self.dropped_tables]
        parts += [f"sequence {s}: {a} -> {b}" for s, (a, b) in self.sequences.items()]
        parts += [f"large object {oid} {what}" for oid, what in self.large_objects.items()]
        schema = [f"{what}: {identity}" for identity, what in self.schema.items()]
        if len(schema) > 20:
            schema = [*schema[:20], f"... {len(schema) - 20} more schema differences"]
        parts += [f"schema {s}" for s in schema]
        parts += [f"database {k}: {a!r} -> {b!r}" for k, (a, b) in self.database.items()]
        return "; ".join(parts)


async def diff(
    current: Any,
    reference: Any = None,
    *,
    open_reference: Callable[[], AbstractAsyncContextManager[Any]] | None = None,
    reference_checksums: Mapping[str, Checksum] | None = None,
    reference_sequences: Mapping[str, SequenceState] | None = None,
    reference_schema: Mapping[str, str] | None = None,
    reference_large_objects: Mapping[int, str] | None = None,
    sequences: bool = True,
    schema: bool = True,
) -> Diff:
    """Compare the database of ``current`` to the one of ``reference`` (the snapshot).

    Checksums narrow the comparison to relations that differ; only those are read row
    by row. Cached ``reference_*`` values skip re-reading them; with ``open_reference``
    (instead of ``reference``) the snapshot is connected to only when rows must be
    compared. ``schema`` compares catalog objects and large objects too. Database-level
    state is compared by the caller (it lives in shared catalogs, see
    :class:`~integration_kit.postgres.database_state.DatabaseState`).
    """
    from integration_kit.postgres import catalog

    result = Diff()
    now = await table_checksums(current)
    before = reference_checksums if reference_checksums is not None else await table_checksums(reference)
    result.new_tables = sorted(set(now) - set(before))
    result.dropped_tables = sorted(set(before) - set(now))
    differing = [k for k in sorted(set(now) & set(before)) if now[k] != before[k]]
    if differing:
        if reference is None:
            assert open_reference is not None, "diff() needs reference or open_reference"
            async with open_reference() as ref:
                for key in differing:
                    result.tables[key] = await _table_diff(current, ref, parse_table(key))
        else:
            for key in differing:
                result.tables[key] = await _table_diff(current, reference, parse_table(key))
    if sequences:
        seq_now = await sequence_states(current)
        seq_before = (
            reference_sequences if reference_sequences is not None else await sequence_states(reference)
        )
        for name in sorted(set(seq_now) | set(seq_before)):
            if seq_now.get(name) != seq_before.get(name):
                result.sequences[name] = (seq_before.get(name), seq_now.get(name))
    if schema:
        objects_now = await catalog.schema_objects(current)
        objects_before = (
            reference_schema if reference_schema is not None else await catalog.schema_objects(reference)
        )
        result.schema = catalog.compare(dict(objects_before), objects_now)
        lo_now = await large_objects(current)
        lo_before = (
            reference_large_objects if reference_large_objects is not None else await large_objects(reference)
        )
        for oid in sorted(set(lo_now) | set(lo_before)):
            if oid not in lo_before:
                result.large_objects[oid] = "added"
            elif oid not in lo_now:
                result.large_objects[oid] = "removed"
            elif lo_now[oid] != lo_before[oid]:
                result.large_objects[oid] = "changed"
    return result


async def _table_diff(current: Any, reference: Any, table: Table) -> TableDiff:
    now_rows = await rows_as_dicts(current, table)
    old_rows = await rows_as_dicts(reference, table)
    now_count = Counter(map(_canon, now_rows))
    old_count = Counter(map(_canon, old_rows))
    added = [json.loads(t) for t in (now_count - old_count).elements()]
    removed = [json.loads(t) for t in (old_count - now_count).elements()]
    out = TableDiff()
    pkey = await primary_key(current, table)
    if pkey:
        by_key = {tuple(r.get(c) for c in pkey): r for r in removed}
        for row in added:
            k = tuple(row.get(c) for c in pkey)
            if k in by_key:
                out.changed.append((by_key.pop(k), row))
            else:
                out.added.append(row)
        out.removed = list(by_key.values())
    else:
        out.added, out.removed = added, removed
    return out


def raise_if_changed(result: Diff, *, snapshot: str) -> None:
    """Raise ``IK-PG-STATE-CHANGED`` if ``result`` shows differences."""
    if result:
        raise PostgresError(ErrorCode.PG_NOT_UNCHANGED, snapshot=snapshot, diff=str(result))
