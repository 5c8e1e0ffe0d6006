"""Large batches built while they are written: COPY statements in chunks, the next one built meanwhile.

A batch of at least ``Meta.copy_threshold`` rows of a factory with ``conflict="error"``
streams while its rows are *plain*: no parent or related row still to write, no async
post-generation hook, and the first row's set of columns. The rows go to the server in
chunks of ``Meta.copy_chunk`` rows, each its own ``COPY`` statement in the batch's
transaction, and the next chunk is built while the server stores the last one:
PostgreSQL checks foreign keys at the end of each statement, so with one ``COPY`` for the
whole batch the client would build everything first and then wait for all the checks;
with chunks, client and server each keep one core busy. While a statement is in flight
the build yields to the event loop every :data:`YIELD_EVERY` rows, so asyncpg keeps
sending.

Chunks are only used where several statements store what one does
(``TableInfo.splittable``: no user triggers, row security, or defaults calling user
functions or ``statement_timestamp()``); other tables get one ``COPY`` of the whole
batch. The keys the rows leave to the server are drawn for the whole batch while the
first chunk is built, and the stored rows are read back by them once the batch is
written, as on the regular path (:mod:`integration_kit.seeding.statements`).

The first row that is not plain ends the stream: it and the rest of the batch take the
regular path in the same transaction. An error while building or validating a row ends
the stream as it would end one ``COPY``: the rows before it are still sent (so a foreign
key or unique violation among them is what is raised, as from one ``COPY``), then the
error is raised and the transaction rolled back.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from integration_kit.seeding.catalog import TableInfo, table_info
from integration_kit.seeding.rows import PendingRow, RowValues
from integration_kit.seeding.statements import (
    WRITE_ERRORS,
    correlation_key,
    default_expression,
    draw_keys,
    read_back,
    write_failed,
)

REPORT_EVERY = 1000
#: Rows per ``COPY`` statement of a streamed batch (``Meta.copy_chunk``'s default).
COPY_CHUNK = 5000
#: While a statement is in flight, the build lets the event loop run every this many rows.
YIELD_EVERY = 200


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
    order = {column: position for position, column in enumerate(info.columns)}
    columns = tuple(sorted([*values, *drawn_columns], key=order.__getitem__))
    chunk_size = meta.copy_chunk if info.splittable else size
    built = frozenset(values)  # before the drawn keys are added
    check = meta.check
    streamed: list[dict[str, Any]] = []  # column values of the rows sent or to send, in order
    writer = _Writer(conn, info, columns, streamed)
    writer.start(_draw(conn, info, drawn_columns, size, name))
    failure: Exception | None = None  # raised once the rows before it are sent, as one COPY would
    row_values = values
    try:
        try:
            while True:
                try:
                    if check is not None:
                        check(row_values)
                except Exception as exc:
                    failure = exc
                    break
                streamed.append(row_values)
                index = len(streamed)
                if index % REPORT_EVERY == 0:
                    report("built", REPORT_EVERY)
                if index == size:
                    break
                if index % chunk_size == 0:
                    await writer.send(index)
                elif index % YIELD_EVERY == 0 and writer.busy:
                    await asyncio.sleep(0)  # the statement in flight sends and reads meanwhile
                try:
                    row = make()
                    pending.append(row)
                    if not is_plain(row):
                        break
                    row_values = to_values(row)
                except Exception as exc:
                    failure = exc
                    break
                if row_values.keys() != built:
                    break  # another column set: this row and the rest take the regular path
            await writer.send(len(streamed))
            await writer.wait()
            if failure is None:
                stored = await read_back(conn, info, key, streamed, name)
        except WRITE_ERRORS as exc:
            raise write_failed(name, info, len(streamed), exc) from exc
    finally:
        await writer.close()
    if failure is not None:
        raise failure
    oid = info.oid
    for row, record in zip(pending, stored, strict=False):
        row.clear()
        row.update(record.items())
        row.stored = True
        row.table_oid = oid
    report("postgres", len(streamed))


async def _draw(
    conn: asyncpg.Connection, info: TableInfo, drawn_columns: list[str], size: int, name: str
) -> list[tuple[str, list[Any]]]:
    return [(column, await draw_keys(conn, info, column, size, name)) for column in drawn_columns]


class _Writer:
    """One statement in flight on the connection at a time: the key draw, then each chunk's COPY."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        info: TableInfo,
        columns: tuple[str, ...],
        streamed: list[dict[str, Any]],
    ) -> None:
        self.conn = conn
        self.info = info
        self.columns = columns
        self.streamed = streamed
        self.pick = operator.itemgetter(*columns)
        self.sent = 0  # rows of ``streamed`` handed to a COPY
        self.keys: list[tuple[str, list[Any]]] | None = None
        self.task: asyncio.Future[Any] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def start(self, work: Awaitable[Any]) -> None:
        self.task = asyncio.ensure_future(work)

    async def wait(self) -> Any:
        """The result of the statement in flight (its error, raised)."""
        task, self.task = self.task, None
        return await task if task is not None else None

    async def send(self, end: int) -> None:
        """Wait for the statement in flight, then start the COPY of rows ``sent:end``."""
        result = await self.wait()
        if self.keys is None:
            self.keys = result  # the first statement is the key draw
        if end <= self.sent:
            return
        rows = self.streamed[self.sent : end]
        for column, keys in self.keys or ():
            for offset, record in enumerate(rows, self.sent):
                record[column] = keys[offset]
        self.sent = end
        pick = self.pick
        records = [pick(r) for r in rows] if len(self.columns) > 1 else [(pick(r),) for r in rows]
        info = self.info
        self.start(
            self.conn.copy_records_to_table(
                info.name, schema_name=info.schema, columns=list(self.columns), records=records
            )
        )

    async def close(self) -> None:
        """After a failure (or an interrupt): end the statement in flight before the rollback."""
        task, self.task = self.task, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        await asyncio.wait([task])  # its own error is not raised: the one being raised says more
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
