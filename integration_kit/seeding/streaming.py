"""Large batches built while they are written: COPY takes the rows as they are made.

A batch of at least ``Meta.copy_threshold`` rows of a factory with ``conflict="error"``
streams while its rows are *plain*: no parent or related row still to write, no async
post-generation hook, and the first row's set of columns. ``copy_records_to_table``
takes a generator that builds, resolves and validates the next row only when asyncpg
asks for it; asyncpg sends COPY data every 512 KiB, so the server stores one chunk while
the next one is built (the two halves of the work run on two cores instead of one after
the other). The keys the rows leave to the server are drawn for the whole batch first,
and the stored rows are read back by them, as on the regular path
(:mod:`integration_kit.seeding.statements`).

The first row that is not plain ends the stream: it and the rest of the batch take the
regular path in the same transaction. An error while building or validating a row ends
the COPY cleanly and is raised once it is done (the transaction is then rolled back).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg

from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding.catalog import table_info
from integration_kit.seeding.rows import PendingRow, RowValues
from integration_kit.seeding.statements import correlation_key, default_expression, draw_keys, read_back

REPORT_EVERY = 1000


def is_plain(row: PendingRow) -> bool:
    """No pending parent among its fields and nothing left to write or await after it."""
    for value in row.values():
        if isinstance(value, PendingRow) and not value.stored:
            return False
    for item in row.after:
        for element in item if isinstance(item, list) else [item]:
            if isinstance(element, PendingRow) or hasattr(element, "__await__"):
                return False
    return True


async def stream(
    conn: asyncpg.Connection,
    factory_class: Any,
    make: Callable[[], PendingRow],
    size: int,
    pending: list[PendingRow],
    report: Callable[[str, int], None],
) -> None:
    """Build rows of ``factory_class`` into ``pending`` and COPY them while they are plain.

    Returns when ``size`` rows are built and stored, or after the first row that cannot
    stream (left in ``pending`` unstored, for the regular path).
    """
    meta = factory_class._meta
    name = factory_class.__name__
    first = make()
    pending.append(first)
    if size < meta.copy_threshold or meta.conflict != "error" or not is_plain(first):
        return
    info = await table_info(conn, meta.table, factory=name)
    to_values = RowValues(info, factory_class)
    values = to_values(first)
    key = correlation_key(info, meta, name)
    drawn_columns = [c for c in key if c not in values]
    if not key or any(default_expression(info, info.columns[c]) is None for c in drawn_columns):
        return  # keyless table, or a key the factory must set: the regular path answers
    drawn = [await draw_keys(conn, info, c, size, name) for c in drawn_columns]
    order = {column: position for position, column in enumerate(info.columns)}
    columns = tuple(sorted([*values, *drawn_columns], key=order.__getitem__))
    pick = operator.itemgetter(*columns)
    built = frozenset(values)  # before the drawn keys are added
    keyed = list(zip(drawn_columns, drawn, strict=True))
    check = meta.check
    streamed: list[dict[str, Any]] = []
    failure: list[Exception] = []

    def records() -> Iterator[tuple[Any, ...]]:
        row_values = values
        index = 0
        while True:
            try:
                if check is not None:
                    check(row_values)
                for column, keys in keyed:
                    row_values[column] = keys[index]
            except Exception as exc:  # raised once the COPY is done; the transaction rolls back
                failure.append(exc)
                return
            streamed.append(row_values)
            yield (pick(row_values),) if len(columns) == 1 else pick(row_values)
            index += 1
            if index % REPORT_EVERY == 0:
                report("built", REPORT_EVERY)
            if index == size:
                return
            try:
                row = make()
                pending.append(row)
                if not is_plain(row):
                    return
                row_values = to_values(row)
            except Exception as exc:
                failure.append(exc)
                return
            if row_values.keys() != built:
                return  # another column set: this row and the rest take the regular path

    try:
        await conn.copy_records_to_table(
            info.name, schema_name=info.schema, columns=list(columns), records=records()
        )
        if failure:
            raise failure[0]
        stored = await read_back(conn, info, key, streamed, name) if streamed else []
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise SeedError(
            ErrorCode.SEED_WRITE_FAILED,
            factory=name,
            count=len(streamed),
            target=info.display,
            cause=f"{type(exc).__name__}: {exc}",
        ) from exc
    oid = info.oid
    for row, record in zip(pending, stored, strict=False):
        row.clear()
        row.update(record.items())
        row.stored = True
        row.table_oid = oid
    report("postgres", len(streamed))
