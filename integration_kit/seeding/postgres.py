"""``PostgresFactory``: factory_boy declarations written to PostgreSQL through asyncpg.

::

    class CustomerFactory(PostgresFactory):
        class Meta:
            table = "shop.customers"

        name = factory.Faker("name")

    class OrderFactory(PostgresFactory):
        class Meta:
            table = "shop.orders"

        customer = factory.SubFactory(CustomerFactory)   # fills orders.customer_id
        quantity = factory.Faker("pyint", min_value=1, max_value=9)

    orders = await OrderFactory.create_batch(500)        # rows as stored, ids included

How a batch is written (all of it in one transaction, a savepoint inside the test's):

1. factory_boy builds the rows (its ``create`` strategy, with ``_create`` returning a
   :class:`PendingRow` instead of writing): ``SubFactory`` parents and
   ``RelatedFactory`` children become pending rows of their own.
2. Rows are written parents first, level by level, one statement (or one ``COPY``)
   per factory and level. A field holding a parent row (``customer``) is matched to
   the child's foreign key from the catalog (``customer`` or ``customer_id`` names the
   column, or the table has one foreign key to the parent's table) and replaced by the
   parent's stored key.
3. Keys the factory does not set (``serial``, identity, ``DEFAULT gen_random_uuid()``)
   are drawn from the server before the write, so each stored row is read back by its
   key and matched to the row that was built, whatever the write path. Batches of at
   least ``Meta.copy_threshold`` rows go through ``COPY`` (``copy_records_to_table``).
4. Async ``post_generation`` hooks run after the rows are stored, inside the transaction.

``Meta`` options: ``table`` (``"orders"`` or ``"schema.orders"``), ``conflict``
(``"error"`` default, ``"ignore"``, ``"update"``), ``conflict_key`` (columns; default the
primary key), ``copy_threshold`` (default 200), ``validate`` (see
:mod:`integration_kit.seeding.validation`).
"""

from __future__ import annotations

import datetime
import decimal
import json
import operator
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from factory import enums

from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding import context
from integration_kit.seeding.base import OptionDefault, SeedFactory, SeedOptions, invalid_option
from integration_kit.seeding.batch import collector_paused, instance_maker
from integration_kit.seeding.catalog import Column, ForeignKey, TableInfo, quote_ident, table_info
from integration_kit.seeding.validation import invalid

_TABLE = re.compile(r"^[^.\x00]+(\.[^.\x00]+)?$")  # each part literal, quoted by the kit
CONFLICTS = ("error", "ignore", "update")
MAX_PARAMETERS = 32767
BUILD_REPORT_EVERY = 1000


class PendingRow(dict[str, Any]):
    """A row built for writing; once written it holds the row as stored."""

    __slots__ = ("after", "factory", "stored", "table_oid")

    def __init__(self, factory_class: type[PostgresFactory], values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.factory = factory_class
        self.after: list[Any] = []
        self.stored = False
        self.table_oid: int | None = None


class PostgresOptions(SeedOptions):
    table: str
    conflict: str
    conflict_key: Sequence[str] | None
    copy_threshold: int

    def _build_default_options(self) -> list[Any]:

        return [
            *super()._build_default_options(),
            OptionDefault("table", None, inherit=True),
            OptionDefault("conflict", "error", inherit=True),
            OptionDefault("conflict_key", None, inherit=True),
            OptionDefault("copy_threshold", 200, inherit=True),
        ]

    def validate_options(self, owner: str) -> None:
        if not isinstance(self.table, str) or not _TABLE.match(self.table):
            raise invalid_option(owner, "table", self.table, "a table name such as 'orders' or 'shop.orders'")
        if self.conflict not in CONFLICTS:
            raise invalid_option(owner, "conflict", self.conflict, " or ".join(map(repr, CONFLICTS)))
        key = self.conflict_key
        if key is not None and (
            isinstance(key, str) or not key or not all(isinstance(c, str) and c for c in key)
        ):
            raise invalid_option(owner, "conflict_key", key, "a non-empty tuple of column names")
        threshold = self.copy_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise invalid_option(owner, "copy_threshold", threshold, "an integer >= 1")


class PostgresFactory(SeedFactory):
    """Rows of ``Meta.table``; ``await create(...)`` / ``await create_batch(n, ...)`` write them.

    ``build()``/``build_batch()`` return plain dicts and write nothing (``SubFactory``
    fields hold the parent's dict). The rows go to the active seeding context's
    PostgreSQL store: the test's connection in a ``PostgresTestCase``, the snapshot's
    connection in a scenario, or ``seeding.use(postgres=connection)``.
    """

    _options_class = PostgresOptions

    class Meta:
        model = dict
        abstract = True

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        return dict(kwargs)

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        return PendingRow(cls, kwargs)

    @classmethod
    def _after_postgeneration(
        cls, instance: Any, create: bool, results: dict[str, Any] | None = None
    ) -> None:
        if isinstance(instance, PendingRow) and results:
            instance.after.extend(results.values())

    @classmethod
    async def create(cls, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """Build one row (and its parents), write it; return it as stored."""
        (row,) = await cls.create_batch(1, **kwargs)
        return row

    @classmethod
    async def create_batch(cls, size: int, **kwargs: Any) -> list[dict[str, Any]]:  # type: ignore[override]
        """Build ``size`` rows with ``kwargs`` and write them; return them as stored."""
        if size < 1:
            return []
        conn = _connection(context.require(cls.__name__, "postgres"))
        generate = instance_maker(cls, enums.CREATE_STRATEGY, kwargs)
        pending: list[PendingRow] = []
        active = context.current()
        with collector_paused(size):
            try:
                for index in range(size):
                    pending.append(generate())
                    if active is not None and index % BUILD_REPORT_EVERY == BUILD_REPORT_EVERY - 1:
                        active.report("built", BUILD_REPORT_EVERY)
                await write(conn, pending)
            except BaseException:
                _close_hooks(pending)
                raise
            return [dict(row) for row in pending]


def _connection(store: Any) -> asyncpg.Connection:
    if isinstance(store, asyncpg.Connection):
        return store
    conn = getattr(store, "connection", None)
    if isinstance(conn, asyncpg.Connection):
        return conn
    raise SeedError(ErrorCode.SEED_NO_STORE, factory="PostgresFactory", store="postgres")


# --- the write -------------------------------------------------------------------------


def _collect(roots: Sequence[PendingRow]) -> tuple[list[PendingRow], dict[int, int], list[Any]]:
    """Every pending row reachable from ``roots`` (parents first), each one's level, and the async hooks.

    A row's level is one more than its highest pending parent's (a row without one: 0).
    """
    rows: list[PendingRow] = []
    levels: dict[int, int] = {}
    hooks: list[Any] = []

    def visit(row: PendingRow) -> int:
        key = id(row)
        level = levels.get(key)
        if level is not None:
            return level
        levels[key] = -1  # in progress: a reference back to it does not raise its level
        level = 0
        for value in row.values():
            if isinstance(value, PendingRow) and not value.stored:
                level = max(level, visit(value) + 1)
        levels[key] = level
        rows.append(row)
        after, row.after = row.after, []
        for item in after:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, PendingRow):
                    if not element.stored:
                        visit(element)
                elif hasattr(element, "__await__"):
                    hooks.append(element)
        return level

    for root in roots:
        if not root.stored:
            visit(root)
    return rows, levels, hooks


def _close_hooks(rows: Sequence[PendingRow]) -> None:
    """Close never-awaited async post_generation coroutines (after a failure)."""
    for row in rows:
        for value in row.values():
            if isinstance(value, PendingRow):
                _close_hooks([value])
        for item in row.after:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, PendingRow):
                    _close_hooks([element])
                elif hasattr(element, "close") and hasattr(element, "__await__"):
                    element.close()
        row.after = []


async def write(conn: asyncpg.Connection, roots: Sequence[PendingRow]) -> None:
    """Write ``roots`` and every pending row they reference, parents first (one transaction)."""
    rows, levels, hooks = _collect(roots)
    try:
        async with conn.transaction():
            by_level: dict[int, dict[type, list[PendingRow]]] = {}
            for row in rows:
                by_level.setdefault(levels[id(row)], {}).setdefault(row.factory, []).append(row)
            for level in sorted(by_level):
                for factory_class, group in by_level[level].items():
                    await _write_group(conn, factory_class, group)
            while hooks:
                await hooks.pop(0)
    finally:
        for hook in hooks:  # not awaited because the write failed: close them quietly
            hook.close()


async def _write_group(conn: asyncpg.Connection, factory_class: type, rows: list[PendingRow]) -> None:
    meta: PostgresOptions = factory_class._meta  # type: ignore[attr-defined]
    name = factory_class.__name__
    info = await table_info(conn, meta.table, factory=name)
    resolve = _Resolver(info, factory_class)
    values = [resolve(row) for row in rows]
    if meta.check is not None:
        for record in values:
            meta.check(record)
    key = _correlation_key(info, meta, name)
    if key:
        await _fill_keys(conn, info, key, values, name)
    # One statement per column set (rows may override different columns).
    by_columns: dict[tuple[str, ...], list[int]] = {}
    order = {column: position for position, column in enumerate(info.columns)}
    sorted_columns: dict[tuple[str, ...], tuple[str, ...]] = {}
    for index, record in enumerate(values):
        built = tuple(record)
        columns = sorted_columns.get(built)
        if columns is None:
            columns = sorted_columns[built] = tuple(sorted(built, key=order.__getitem__))
        by_columns.setdefault(columns, []).append(index)
    for columns, indexes in by_columns.items():
        batch = [values[i] for i in indexes]
        try:
            if key:
                await _write_keyed(conn, info, meta, columns, batch)
                stored = await _read_back(conn, info, key, batch, name)
            else:
                stored = await _insert_returning(conn, info, meta, columns, batch)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise SeedError(
                ErrorCode.SEED_WRITE_FAILED,
                factory=name,
                count=len(batch),
                target=info.display,
                cause=f"{type(exc).__name__}: {exc}",
            ) from exc
        active = context.current()
        if active is not None:
            active.report("postgres", len(batch))
        oid = info.oid
        for i, row_values in zip(indexes, stored, strict=True):
            row = rows[i]
            row.clear()
            row.update(row_values.items())
            row.stored = True
            row.table_oid = oid


_PLAIN, _JSON = "plain", "json"


class _Resolver:
    """Turns built rows into column values; decides once per field (and parent table) how."""

    def __init__(self, info: TableInfo, factory_class: type) -> None:
        self.info = info
        self.name = factory_class.__name__
        self.plans: dict[tuple[str, int | None, bool], Any] = {}
        # Fields whose scalar values go to their column as they are (no lookup per value).
        self.plain = frozenset(
            name for name, column in info.columns.items() if not column.generated and not column.is_json
        )

    def _plan(self, field: str, value: Any) -> Any:
        column = self.info.columns.get(field)
        if _is_reference(column, value):
            return _foreign_key(self.info, self.name, field, value)
        if column is None:
            return None
        if column.generated:
            raise invalid(
                self.name, field, "a generated column cannot be written", f"table {self.info.display}"
            )
        return _JSON if column.is_json else _PLAIN

    def __call__(self, row: PendingRow) -> dict[str, Any]:
        """The row's column values: parent rows replaced by their keys; unknown fields refused."""
        out: dict[str, Any] = {}
        unknown: list[str] = []
        plans = self.plans
        plain = self.plain
        for field, value in row.items():
            kind = type(value)
            if kind in _SCALARS and field in plain:
                out[field] = value
                continue
            mapping = kind is dict or kind is PendingRow or isinstance(value, Mapping)
            cache_key = (field, getattr(value, "table_oid", None) if mapping else None, mapping)
            plan = plans.get(cache_key, _MISSING)
            if plan is _MISSING:
                plan = plans[cache_key] = self._plan(field, value)
            if plan is _PLAIN:
                out[field] = value
            elif plan is _JSON:
                out[field] = (
                    value
                    if value is None or isinstance(value, str)
                    else json_text(value, owner=self.name, field=field)
                )
            elif plan is None:
                unknown.append(field)
            else:
                self._reference(out, field, plan, value)
        if unknown:
            raise SeedError(
                ErrorCode.SEED_UNKNOWN_COLUMN,
                factory=self.name,
                fields=", ".join(sorted(unknown)),
                table=self.info.display,
                columns=", ".join(self.info.columns),
            )
        return out

    def _reference(self, out: dict[str, Any], field: str, fk: ForeignKey, value: Mapping[str, Any]) -> None:
        for local, ref in zip(fk.columns, fk.ref_columns, strict=True):
            if ref not in value:
                raise SeedError(
                    ErrorCode.SEED_FOREIGN_KEY,
                    factory=self.name,
                    field=field,
                    table=self.info.display,
                    parent=fk.ref_table,
                    cause=f"the parent row has no column {ref!r} (it has {', '.join(value) or 'none'})",
                )
            out[local] = value[ref]


_MISSING = object()
#: Types that are never a parent row nor JSON: written to a plain column as they are.
_SCALARS = frozenset(
    {str, int, float, bool, type(None), bytes, decimal.Decimal, datetime.datetime, datetime.date, uuid.UUID}
)


def json_text(value: Any, *, owner: str, field: str) -> str:
    """``value`` as JSON text for a json/jsonb column (asyncpg sends those as text)."""
    from integration_kit.seeding.kafka import _json_default

    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise invalid(owner, field, f"not JSON-encodable ({exc})", "the json/jsonb column") from exc


def _is_reference(column: Column | None, value: Any) -> bool:
    """A parent row (a pending row, or a mapping not meant for a json/jsonb column)."""
    if isinstance(value, PendingRow):
        return True
    return isinstance(value, Mapping) and not (column is not None and column.is_json)


def _foreign_key(info: TableInfo, factory_name: str, field: str, value: Mapping[str, Any]) -> ForeignKey:
    """The foreign key of ``info`` that ``field`` (holding a parent row) stands for."""
    candidates = info.foreign_keys
    by_name = [fk for fk in candidates if fk.columns in ((field,), (f"{field}_id",))]
    if len(by_name) == 1:
        return by_name[0]
    parent_oid = getattr(value, "table_oid", None)
    if parent_oid is not None:
        to_parent = [fk for fk in candidates if fk.ref_oid == parent_oid]
        if len(to_parent) == 1:
            return to_parent[0]
        cause = (
            f"{len(to_parent)} foreign keys refer to it ({', '.join(fk.name for fk in to_parent)})"
            if to_parent
            else "no foreign key refers to it"
        )
        parent = value.factory._meta.table  # type: ignore[attr-defined]
    else:
        cause = f"no foreign key column is named {field!r} or {field + '_id'!r}"
        parent = "a row passed as a value"
    if info.columns.get(field) is None and not candidates:
        raise SeedError(
            ErrorCode.SEED_UNKNOWN_COLUMN,
            factory=factory_name,
            fields=field,
            table=info.display,
            columns=", ".join(info.columns),
        )
    raise SeedError(
        ErrorCode.SEED_FOREIGN_KEY,
        factory=factory_name,
        field=field,
        table=info.display,
        parent=parent,
        cause=cause,
    )


def _correlation_key(info: TableInfo, meta: PostgresOptions, factory_name: str) -> tuple[str, ...]:
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


def _default_expression(info: TableInfo, column: Column) -> str | None:
    if column.identity:
        literal = info.sql_name.replace("'", "''")
        name = column.name.replace("'", "''")
        return f"nextval(pg_get_serial_sequence('{literal}', '{name}'))"
    return column.default


async def _fill_keys(
    conn: asyncpg.Connection, info: TableInfo, key: tuple[str, ...], values: list[dict[str, Any]], name: str
) -> None:
    """Draw the key columns the factory left out from the server (serial, identity, defaults)."""
    for column_name in key:
        missing = [record for record in values if column_name not in record]
        if not missing:
            continue
        column = info.columns[column_name]
        expression = _default_expression(info, column)
        if expression is None:
            raise invalid(
                name,
                column_name,
                "key column without a default: the factory must set it",
                f"table {info.display}",
            )
        drawn = await conn.fetchval(
            f"SELECT array_agg({expression}) FROM generate_series(1, $1::int)", len(missing)
        )
        for record, value in zip(missing, drawn, strict=True):
            record[column_name] = value


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


async def _write_keyed(
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


async def _read_back(
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


async def _insert_returning(
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
