"""Redis state between tests: reset, and snapshot/restore of seeded keys with their TTLs.

Two ways to isolate a worker's keys (see :class:`~integration_kit.services.namespace.Namespace`):

- ``db``: the worker owns a database index; reset is ``FLUSHDB ASYNC`` (one command).
- ``prefix``: the worker owns the keys under a prefix; reset unlinks them (``SCAN`` + ``UNLINK``).

A :class:`RedisSnapshot` holds each seeded key's ``DUMP`` payload and remaining ``PTTL``,
with the ``RESTORE ... REPLACE`` commands encoded once when it is taken; restoring sends
them (after the reset, in ``db`` mode) in a single write and reads the replies: one round trip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from integration_kit.errors import ErrorCode, RedisError

ISOLATIONS = ("db", "prefix")
_SCAN_COUNT = 1000
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def glob_escape(text: str) -> str:
    """``text`` with Redis glob metacharacters escaped, for ``SCAN MATCH``."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _check_isolation(isolation: str) -> None:
    if isolation not in ISOLATIONS:
        raise RedisError(
            ErrorCode.REDIS_INVALID_ARGUMENT,
            argument="isolation",
            value=isolation,
            expected="one of " + ", ".join(repr(i) for i in ISOLATIONS),
        )


async def scan_keys(client: aioredis.Redis, *, prefix: str | None = None) -> list[bytes]:
    """Every key of the client's database, or only those under ``prefix``."""
    match = None if prefix is None else glob_escape(prefix) + "*"
    keys: list[bytes] = []
    async for key in client.scan_iter(match=match, count=_SCAN_COUNT):
        keys.append(key if isinstance(key, bytes) else str(key).encode())
    return keys


async def reset(client: aioredis.Redis, *, prefix: str | None = None) -> None:
    """Empty the client's database (``FLUSHDB ASYNC``), or unlink the keys under ``prefix``."""
    if prefix is None:
        await client.flushdb(asynchronous=True)
        return
    keys = await scan_keys(client, prefix=prefix)
    for start in range(0, len(keys), _SCAN_COUNT):
        await client.unlink(*keys[start : start + _SCAN_COUNT])


@dataclass(frozen=True)
class SnapshotEntry:
    """One key as it was snapshotted: its ``DUMP`` payload and remaining ``PTTL`` (-1: none)."""

    key: bytes
    pttl: int
    payload: bytes


@dataclass(frozen=True)
class RedisSnapshot:
    """Seeded keys with their TTLs, and the encoded commands that bring them back."""

    entries: tuple[SnapshotEntry, ...]
    prefix: str | None = None
    _packed: tuple[bytes | memoryview, ...] = field(default=(), repr=False, compare=False)
    _commands: int = field(default=0, repr=False, compare=False)

    @property
    def keys(self) -> list[bytes]:
        return [entry.key for entry in self.entries]


def _encode(client: aioredis.Redis, commands: Sequence[tuple[Any, ...]]) -> tuple[bytes | memoryview, ...]:
    """RESP-encode ``commands`` once, with the connection class's own encoder."""
    pool = client.connection_pool
    connection = pool.connection_class(**pool.connection_kwargs)
    return tuple(connection.pack_commands(commands))


async def take_snapshot(
    client: aioredis.Redis, *, prefix: str | None = None, exclude: Sequence[bytes] = ()
) -> RedisSnapshot:
    """Snapshot every key of the database (or under ``prefix``) with ``PTTL`` + ``DUMP``.

    The keys are read in one pipelined round trip after a ``SCAN``. Keys that vanish
    (expire) in between are left out, and so are the keys in ``exclude`` (the kit's owner
    key). Works with ``decode_responses`` clients too.
    """
    keys = [key for key in await scan_keys(client, prefix=prefix) if key not in exclude]
    entries: list[SnapshotEntry] = []
    if keys:
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.pttl(key)
                pipe.execute_command("DUMP", key, NEVER_DECODE=True)
            replies = await pipe.execute()
        for index, key in enumerate(keys):
            pttl, payload = replies[2 * index], replies[2 * index + 1]
            if payload is None or pttl == -2:
                continue
            entries.append(SnapshotEntry(key=key, pttl=int(pttl), payload=payload))
    return build_snapshot(client, entries, prefix=prefix)


def build_snapshot(
    client: aioredis.Redis, entries: Sequence[SnapshotEntry], *, prefix: str | None = None
) -> RedisSnapshot:
    """A snapshot of ``entries``, its ``[FLUSHDB ASYNC +] RESTORE ... REPLACE`` commands encoded now."""
    commands: list[tuple[Any, ...]] = []
    if prefix is None:
        commands.append(("FLUSHDB", "ASYNC"))
    for entry in entries:
        # RESTORE reads TTL 0 as "no expiry"; a key at its last millisecond keeps 1 ms.
        ttl = 0 if entry.pttl < 0 else max(entry.pttl, 1)
        commands.append(("RESTORE", entry.key, ttl, entry.payload, "REPLACE"))
    return RedisSnapshot(
        entries=tuple(entries),
        prefix=prefix,
        _packed=_encode(client, commands) if commands else (),
        _commands=len(commands),
    )


async def restore(client: aioredis.Redis, snapshot: RedisSnapshot) -> None:
    """Bring the database (or the prefix) back to ``snapshot``: reset plus ``RESTORE ... REPLACE``.

    In ``db`` mode this is one write of pre-encoded commands and one read of their
    replies. A failing ``RESTORE`` (e.g. a payload from an incompatible server) raises.
    """
    if snapshot.prefix is not None:
        await reset(client, prefix=snapshot.prefix)
    if not snapshot._commands:
        return
    pool = client.connection_pool
    connection = await pool.get_connection()
    errors: list[ResponseError] = []
    try:
        await connection.send_packed_command(list(snapshot._packed))
        for _ in range(snapshot._commands):
            try:
                await connection.read_response()
            except ResponseError as exc:
                errors.append(exc)
    except BaseException:
        await connection.disconnect()
        raise
    finally:
        await pool.release(connection)
    if errors:
        raise RedisError(
            ErrorCode.REDIS_RESTORE_FAILED,
            failed=len(errors),
            total=snapshot._commands,
            cause=errors[0],
        ) from errors[0]
