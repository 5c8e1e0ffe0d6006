"""The SQL that writes built rows: keys drawn from the server, COPY or INSERT, rows read back.

Rows are matched to what is stored by their correlation key (the conflict key, else the
primary key): key columns the factory leaves out are drawn from their defaults
(``serial``, identity, ``gen_random_uuid()``) before the write, so each stored row can be
read back by its key, whatever the write path (``COPY``, ``INSERT ... ON CONFLICT``).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding.base import invalid_option
from integration_kit.seeding.catalog import Column, TableInfo, quote_ident
from integration_kit.seeding.validation import invalid

if TYPE_CHECKING:
    from integration_kit.seeding.postgres import PostgresOptions

MAX_PARAMETERS = 32767
#: What a failed write raises from asyncpg: reported as ``IK-SEED-WRITE-FAILED`` (:func:`write_failed`).
WRITE_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError)


def write_failed(name: str, info: TableInfo, count: int, exc: BaseException) -> SeedError:
    """The error for ``count`` rows of factory ``name`` that PostgreSQL (or the connection) refused."""
    return SeedError(
        ErrorCode.SEED_WRITE_FAILED,
        factory=name,
        count=count,
        target=info.display,
        cause=f"{type(exc).__name__}: {exc}",
    )


def correlation_key(info: TableInfo, meta: PostgresOptions, factory_name: str) -> tuple[str, ...]:
    """The columns stored rows are matched by: the conflict key, else the primary key."""
    if meta.conflict != "error":
        key = tuple(meta.conflict_key or info.primary_key)
        if not key:
            raise invalid_option(
                factory_name, "conflict_key", meta.conflict_key, f"columns of a unique key of {info.display}"
            )
        missing = [c for c in key if c not in info.columns]
        if missing:
            raise SeedError(
                ErrorCode.SEED_UNKNOWN_COLUMN,
                factory=factory_name,
                fields=", ".join(missing),
                table=info.display,
                columns=", ".join(info.columns),
            )
        return key
    return info.primary_key


def default_expression(info: TableInfo, column: Column) -> str | None:
    if column.identity:
        literal = info.sql_name.replace("'", "''")
        name = column.name.replace("'", "''")
        return f"nextval(pg_get_serial_sequence('{literal}', '{name}'))"
    return column.default


async def fill_keys(
    conn: asyncpg.Connection, info: TableInfo, key: tuple[str, ...], values: list[dict[str, Any]], name: str
) -> None:
    """Draw the key columns the factory left out from the server (serial, identity, defaults)."""
    for column_name in key:
        missing = [record for record in values if column_name not in record]
        if not missing:
            continue
        drawn = await draw_keys(conn, info, column_name, len(missing), name)
        for record, value in zip(missing, drawn, strict=True):
            record[column_name] = value


async def draw_keys(
    conn: asyncpg.Connection, info: TableInfo, column_name: str, count: int, name: str
) -> list[Any]:
    """``count`` values of key column ``column_name``'s default, drawn from the server."""
    expression = default_expression(info, info.columns[column_name])
    if expression is None:
        raise invalid(
            name,
            column_name,
            "key column without a default: the factory must set it",
            f"table {info.display}",
        )
    drawn = await conn.fetchval(f"SELECT array_agg({expression}) FROM generate_series(1, $1::int)", count)
    return list(drawn)


def _overriding(info: TableInfo, columns: Sequence[str]) -> str:
    return " OVERRIDING SYSTEM VALUE" if any(info.columns[c].identity == "a" for c in columns) else ""


def _on_conflict(info: TableInfo, meta: PostgresOptions, columns: Sequence[str]) -> str:
    if meta.conflict == "error":
        return ""
    key = tuple(meta.conflict_key or info.primary_key)
    target = "(" + ", ".join(quote_ident(c) for c in key) + ")"
    if meta.conflict == "ignore":
        return f" ON CONFLICT {target} DO NOTHING"
    keep = set(key) | set(info.primary_key)
    updates = [c for c in columns if c not in keep]
    if not updates:
        return f" ON CONFLICT {target} DO NOTHING"
    sets = ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in updates)
    return f" ON CONFLICT {target} DO UPDATE SET {sets}"


def _values_statements(
    info: TableInfo, columns: Sequence[str], batch: Sequence[dict[str, Any]], suffix: str
) -> list[tuple[str, list[Any]]]:
    """Multi-row ``INSERT ... VALUES`` statements within PostgreSQL's parameter limit."""
    column_list = ", ".join(quote_ident(c) for c in columns)
    head = f"INSERT INTO {info.sql_name} ({column_list}){_overriding(info, columns)} VALUES "
    if not columns:
        return [(f"INSERT INTO {info.sql_name} DEFAULT VALUES{suffix}", []) for _ in batch]
    per_statement = max(1, MAX_PARAMETERS // len(columns))
    statements = []
    for start in range(0, len(batch), per_statement):
        chunk = batch[start : start + per_statement]
        arguments: list[Any] = []
        groups = []
        for record in chunk:
            placeholders = []
            for column in columns:
                arguments.append(record[column])
                placeholders.append(f"${len(arguments)}")
            groups.append("(" + ", ".join(placeholders) + ")")
        statements.append((head + ", ".join(groups) + suffix, arguments))
    return statements


async def write_keyed(
    conn: asyncpg.Connection,
    info: TableInfo,
    meta: PostgresOptions,
    columns: tuple[str, ...],
    batch: list[dict[str, Any]],
) -> None:
    if len(batch) < meta.copy_threshold:
        for query, arguments in _values_statements(info, columns, batch, _on_conflict(info, meta, columns)):
            await conn.execute(query, *arguments)
        return
    pick = operator.itemgetter(*columns)
    records = [pick(record) for record in batch] if len(columns) > 1 else [(pick(r),) for r in batch]
    if meta.conflict == "error":
        await conn.copy_records_to_table(
            info.name, schema_name=info.schema, columns=list(columns), records=records
        )
        return
    # COPY cannot resolve conflicts: stage the rows, then one INSERT ... SELECT ... ON CONFLICT.
    stage = "ik_seed_stage"
    column_list = ", ".join(quote_ident(c) for c in columns)
    await conn.execute(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {column_list} FROM {info.sql_name} WITH NO DATA"
    )
    try:
        await conn.copy_records_to_table(stage, columns=list(columns), records=records)
        await conn.execute(
            f"INSERT INTO {info.sql_name} ({column_list}){_overriding(info, columns)} "
            f"SELECT {column_list} FROM {stage}{_on_conflict(info, meta, columns)}"
        )
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {stage}")


async def read_back(
    conn: asyncpg.Connection, info: TableInfo, key: tuple[str, ...], batch: list[dict[str, Any]], name: str
) -> list[asyncpg.Record]:
    """The stored rows of ``batch``, in its order, matched by ``key`` (a unique key) on the server."""
    aliases = [f"__ik_k{i}" for i in range(len(key))]
    arrays = ", ".join(f"${i + 1}::{info.columns[c].type}[]" for i, c in enumerate(key))
    match = " AND ".join(f"t.{quote_ident(c)} = k.{a}" for c, a in zip(key, aliases, strict=True))
    keys = f"unnest({arrays}) WITH ORDINALITY AS k({', '.join(aliases)}, __ik_ord)"
    arguments = [[record[c] for record in batch] for c in key]
    # Each key matches at most one row, so as many rows as keys means every key matched.
    stored = await conn.fetch(
        f"SELECT t.* FROM {keys} JOIN {info.sql_name} t ON {match} ORDER BY k.__ik_ord", *arguments
    )
    if len(stored) != len(batch):
        missing = await conn.fetch(
            f"SELECT k.__ik_ord - 1 AS i FROM {keys} WHERE NOT EXISTS "
            f"(SELECT FROM {info.sql_name} t WHERE {match}) ORDER BY k.__ik_ord LIMIT 5",
            *arguments,
        )
        raise SeedError(
            ErrorCode.SEED_WRITE_FAILED,
            factory=name,
            count=len(batch),
            target=info.display,
            cause=f"rows {[r['i'] for r in missing]} were not found by {', '.join(key)} after the write",
        )
    return stored


async def insert_returning(
    conn: asyncpg.Connection,
    info: TableInfo,
    meta: PostgresOptions,
    columns: tuple[str, ...],
    batch: list[dict[str, Any]],
) -> list[asyncpg.Record]:
    """Tables without a key: ``INSERT ... VALUES ... RETURNING *`` in input order."""
    stored: list[asyncpg.Record] = []
    for query, arguments in _values_statements(info, columns, batch, " RETURNING *"):
        stored.extend(await conn.fetch(query, *arguments))
    return stored
