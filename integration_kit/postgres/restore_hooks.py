"""What the app keeps across restores: its connection pools and its LISTEN subscriptions.

A restore that replaces the database (``swap``, ``template``, a ``truncate`` rebuild,
named snapshots) terminates every session on it. A pool still holding those sessions
hands out dead connections; a listener stops hearing. :class:`RestoreHooks` runs what
the app registers around each restore (``engine.dispose()`` before, ``pool.check()``
after...), and :class:`Listeners` keeps a kit connection's ``LISTEN`` channels
subscribed across restores.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from integration_kit.errors import ErrorCode, UsageError
from integration_kit.postgres.janitor import APPLICATION_NAME

log = logging.getLogger("integration_kit.postgres")


@dataclass
class _Hook:
    before: Callable[[], Any] | None
    after: Callable[[], Any] | None


def _module_of(obj: Any) -> str:
    return type(obj).__module__ or ""


def hooks_for(target: Any) -> tuple[Callable[[], Any] | None, Callable[[], Any] | None]:
    """``(before, after)`` for a known pool object or a callable."""
    module = _module_of(target)
    if module.startswith("sqlalchemy"):
        dispose = getattr(target, "dispose", None)
        if dispose is not None:  # Engine and AsyncEngine: close the pool's connections
            return dispose, None
    if isinstance(target, asyncpg.Pool):
        return target.expire_connections, None
    if module.startswith("psycopg_pool"):
        return None, target.check  # discard the terminated connections, refill
    if callable(target):
        return target, None
    raise UsageError(
        ErrorCode.USAGE_INVALID_DECLARATION,
        attribute="on_restore(target)",
        value=target,
        owner="PostgresHandle",
        expected="a SQLAlchemy engine, an asyncpg pool, a psycopg_pool pool or a callable",
    )


async def _call(fn: Callable[[], Any]) -> None:
    result = fn()
    if inspect.isawaitable(result):
        await result


class RestoreHooks:
    """Callables run before and after each restore, in registration order."""

    def __init__(self) -> None:
        self._hooks: list[_Hook] = []

    def add(
        self,
        target: Any = None,
        *,
        before: Callable[[], Any] | None = None,
        after: Callable[[], Any] | None = None,
    ) -> Callable[[], None]:
        if target is not None:
            t_before, t_after = hooks_for(target)
            before, after = before or t_before, after or t_after
        hook = _Hook(before, after)
        self._hooks.append(hook)

        def remove() -> None:
            if hook in self._hooks:
                self._hooks.remove(hook)

        return remove

    async def run_before(self) -> None:
        for hook in list(self._hooks):
            if hook.before is not None:
                await _call(hook.before)

    async def run_after(self) -> None:
        for hook in list(self._hooks):
            if hook.after is not None:
                await _call(hook.after)


class Listeners:
    """``LISTEN`` channels on one kit connection, re-subscribed after every restore."""

    def __init__(self, dsn: Callable[[], str]) -> None:
        self._dsn = dsn
        self._channels: dict[str, list[Callable[..., Any]]] = {}
        self._conn: asyncpg.Connection | None = None

    @property
    def channels(self) -> list[str]:
        return sorted(self._channels)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn(), server_settings={"application_name": f"{APPLICATION_NAME} listener"}
            )
            for channel, callbacks in self._channels.items():
                for callback in callbacks:
                    await self._conn.add_listener(channel, callback)
        return self._conn

    async def add(self, channel: str, callback: Callable[..., Any]) -> None:
        conn = await self._connection()
        self._channels.setdefault(channel, []).append(callback)
        await conn.add_listener(channel, callback)

    async def remove(self, channel: str, callback: Callable[..., Any]) -> None:
        callbacks = self._channels.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._channels[channel]
            if self._conn is not None and not self._conn.is_closed():
                await self._conn.remove_listener(channel, callback)

    def detach(self) -> list[int]:
        """Close the listener connection before a restore; return its server pid."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return []
        pid = conn.get_server_pid()
        conn.terminate()
        return [pid]

    async def reattach(self) -> None:
        """After a restore: reconnect and LISTEN again, if anything is subscribed."""
        if self._channels and (self._conn is None or self._conn.is_closed()):
            await self._connection()
            log.debug("integration-kit: re-subscribed LISTEN %s after the restore", ", ".join(self.channels))

    async def close(self) -> None:
        self._channels.clear()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()
