"""What the kit knows of a table, read from the PostgreSQL catalog once per connection.

:class:`TableInfo` holds the columns (name, type, default, identity, generated), the
primary key, unique keys and foreign keys. :func:`table_info` caches it per connection
(a weak reference), so a batch costs no catalog round trip after the first.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from integration_kit.errors import ErrorCode, SeedError

_CACHE: weakref.WeakKeyDictionary[Any, dict[str, TableInfo]] = weakref.WeakKeyDictionary()

_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnum AS num,
       a.attnotnull AS not_null, a.attidentity::text AS identity, a.attgenerated::text AS generated,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr,
       t.typname AS base_type
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
_CONSTRAINTS = """
SELECT c.conname AS name, c.contype::text AS kind, c.conkey AS columns,
       c.confrelid AS ref_oid, c.confkey AS ref_columns
FROM pg_constraint c
WHERE c.conrelid = $1 AND c.contype IN ('p', 'u', 'f')
ORDER BY c.contype, c.conname
"""
_RELATION = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, current_database() AS database
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = to_regclass($1)
"""
#: Whether several COPY statements store what one does (see ``TableInfo.splittable``).
_SPLITTABLE = """
SELECT c.relkind = 'r' AND NOT c.relrowsecurity
   AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
   AND NOT EXISTS (
       SELECT FROM pg_attrdef d JOIN pg_depend p
         ON p.classid = 'pg_attrdef'::regclass AND p.objid = d.oid AND p.refclassid = 'pg_proc'::regclass
       WHERE d.adrelid = c.oid)
   AND NOT EXISTS (
       SELECT FROM pg_attrdef d
       WHERE d.adrelid = c.oid AND pg_get_expr(d.adbin, d.adrelid) ~* 'statement_timestamp')
FROM pg_class c WHERE c.oid = $1
"""
_REF_COLUMNS = "SELECT attnum, attname FROM pg_attribute WHERE attrelid = $1 AND attnum = ANY($2::int2[])"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    """``schema.table`` / ``table`` as quoted identifiers (each part quoted as given)."""
    return ".".join(quote_ident(part) for part in table.split("."))


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None
    identity: str  # '' | 'a' (always) | 'd' (by default)
    generated: bool
    base_type: str

    @property
    def is_json(self) -> bool:
        return self.base_type in {"json", "jsonb"}


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str  # schema.table, as quoted SQL
    ref_oid: int
    ref_columns: tuple[str, ...]


@dataclass
class TableInfo:
    oid: int
    schema: str
    name: str
    database: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...]
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    #: Rows written by several ``COPY`` statements are stored as by one: a plain table
    #: without user triggers (they would fire per statement and see earlier chunks), row
    #: security, or a default calling a user function or ``statement_timestamp()``.
    #: Foreign key and unique checks are the same, and fail on the same first row.
    splittable: bool = False

    @property
    def sql_name(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def display(self) -> str:
        return f"{self.schema}.{self.name}"


async def table_info(conn: asyncpg.Connection, table: str, *, factory: str) -> TableInfo:
    """The catalog's view of ``table`` (cached per connection)."""
    per_conn = _CACHE.get(conn)
    if per_conn is None:
        per_conn = _CACHE[conn] = {}
    found = per_conn.get(table)
    if found is None:
        found = per_conn[table] = await _read(conn, table, factory=factory)
    return found


async def _read(conn: asyncpg.Connection, table: str, *, factory: str) -> TableInfo:
    relation = await conn.fetchrow(_RELATION, qualified(table))
    if relation is None:
        raise SeedError(
            ErrorCode.SEED_UNKNOWN_TABLE,
            factory=factory,
            table=table,
            database=await conn.fetchval("select current_database()"),
        )
    oid = relation["oid"]
    rows = await conn.fetch(_COLUMNS, oid)
    by_num = {row["num"]: row["name"] for row in rows}
    columns = {
        row["name"]: Column(
            name=row["name"],
            type=row["type"],
            not_null=row["not_null"],
            default=row["default_expr"] if not row["generated"] else None,
            identity=row["identity"] or "",
            generated=bool(row["generated"]),
            base_type=row["base_type"],
        )
        for row in rows
    }
    info = TableInfo(
        oid=oid,
        schema=relation["schema"],
        name=relation["name"],
        database=relation["database"],
        columns=columns,
        primary_key=(),
        splittable=bool(await conn.fetchval(_SPLITTABLE, oid)),
    )
    for constraint in await conn.fetch(_CONSTRAINTS, oid):
        names = tuple(by_num[n] for n in constraint["columns"])
        if constraint["kind"] == "p":
            info.primary_key = names
        elif constraint["kind"] == "u":
            info.unique_keys.append(names)
        else:
            ref_oid = constraint["ref_oid"]
            ref_names = {
                r["attnum"]: r["attname"]
                for r in await conn.fetch(_REF_COLUMNS, ref_oid, list(constraint["ref_columns"]))
            }
            ref_sql = await conn.fetchval(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1",
                ref_oid,
            )
            info.foreign_keys.append(
                ForeignKey(
                    name=constraint["name"],
                    columns=names,
                    ref_table=ref_sql,
                    ref_oid=ref_oid,
                    ref_columns=tuple(ref_names[n] for n in constraint["ref_columns"]),
                )
            )
    return info


def forget(conn: asyncpg.Connection) -> None:
    """Drop what is cached for ``conn`` (after a schema change on it)."""
    _CACHE.pop(conn, None)
