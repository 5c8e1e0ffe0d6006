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
primary key), ``copy_threshold`` (default 200), ``copy_chunk`` (rows per ``COPY``
statement of a streamed batch, see :mod:`integration_kit.seeding.streaming`), ``validate`` (see
:mod:`integration_kit.seeding.validation`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg
from factory import enums

from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding import context
from integration_kit.seeding.base import OptionDefault, SeedFactory, SeedOptions, invalid_option
from integration_kit.seeding.batch import (
    FROM_KWARGS,
    NOTHING_WITHOUT_RESULTS,
    collector_paused,
    instance_maker,
)
from integration_kit.seeding.catalog import table_info
from integration_kit.seeding.rows import PendingRow, RowValues
from integration_kit.seeding.statements import (
    WRITE_ERRORS,
    correlation_key,
    fill_keys,
    insert_returning,
    read_back,
    write_failed,
    write_keyed,
)
from integration_kit.seeding.streaming import COPY_CHUNK, stream

_TABLE = re.compile(r"^[^.\x00]+(\.[^.\x00]+)?$")  # each part literal, quoted by the kit
CONFLICTS = ("error", "ignore", "update")
BUILD_REPORT_EVERY = 1000


class PostgresOptions(SeedOptions):
    table: str
    conflict: str
    conflict_key: Sequence[str] | None
    copy_threshold: int
    copy_chunk: int

    def _build_default_options(self) -> list[Any]:

        return [
            *super()._build_default_options(),
            OptionDefault("table", None, inherit=True),
            OptionDefault("conflict", "error", inherit=True),
            OptionDefault("conflict_key", None, inherit=True),
            OptionDefault("copy_threshold", 200, inherit=True),
            OptionDefault("copy_chunk", COPY_CHUNK, inherit=True),
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
        for option in ("copy_threshold", "copy_chunk"):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise invalid_option(owner, option, value, "an integer >= 1")


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
        report = active.report if active is not None else _no_report
        with collector_paused(size):
            try:
                async with conn.transaction():
                    await stream(conn, cls, generate, size, pending, report)
                    for index in range(len(pending), size):
                        pending.append(generate())
                        if index % BUILD_REPORT_EVERY == BUILD_REPORT_EVERY - 1:
                            report("built", BUILD_REPORT_EVERY)
                    if not all(row.stored for row in pending):
                        await write(conn, pending)
            except BaseException:
                _close_hooks(pending)
                raise
            return [dict(row) for row in pending]


def _pending_row(factory_class: type[PostgresFactory], kwargs: dict[str, Any]) -> PendingRow:
    """What ``factory_class._create(model, **kwargs)`` returns, without the unpacking (batch builds)."""
    return PendingRow(factory_class, kwargs)


setattr(PostgresFactory._create.__func__, FROM_KWARGS, _pending_row)  # type: ignore[attr-defined]
setattr(PostgresFactory._after_postgeneration.__func__, NOTHING_WITHOUT_RESULTS, True)  # type: ignore[attr-defined]


def _no_report(store: str, count: int) -> None:
    """Progress goes nowhere outside a seed context."""


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
    resolve = RowValues(info, factory_class)
    values = [resolve(row) for row in rows]
    if meta.check is not None:
        for record in values:
            meta.check(record)
    key = correlation_key(info, meta, name)
    if key:
        await fill_keys(conn, info, key, values, name)
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
                await write_keyed(conn, info, meta, columns, batch)
                stored = await read_back(conn, info, key, batch, name)
            else:
                stored = await insert_returning(conn, info, meta, columns, batch)
        except WRITE_ERRORS as exc:
            raise write_failed(name, info, len(batch), exc) from exc
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
