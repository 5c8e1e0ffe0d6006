"""``RedisKit``: one handle on a worker's Redis with the kit's helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import redis.asyncio as aioredis

from integration_kit.redis import assertions, state
from integration_kit.redis.assertions import KeyT
from integration_kit.redis.client import open_client
from integration_kit.redis.ownership import ScopeOwnership
from integration_kit.redis.state import RedisSnapshot
from integration_kit.services.base import Endpoint
from integration_kit.services.namespace import Namespace
from integration_kit.services.registry import OwnershipRegistry


class RedisKit:
    """A Redis client plus the state and assertion helpers, bound to one isolation scope.

    ``isolation="db"``: ``client`` is on a database of its own; ``prefix`` is ``""``.
    ``isolation="prefix"``: the scope is the keys under ``prefix``; build names with
    :meth:`key`. Helpers take key names as they are (no implicit prefixing).
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        isolation: str = "db",
        prefix: str = "",
        endpoint: Endpoint | None = None,
        registry: OwnershipRegistry | None = None,
    ) -> None:
        state._check_isolation(isolation)
        self.client = client
        self.isolation = isolation
        self.prefix = prefix if isolation == "prefix" else ""
        self.endpoint = endpoint
        self.snapshot_taken: RedisSnapshot | None = None
        self.ownership = ScopeOwnership(
            client, prefix=self._scope, label=self._label(), address=self._address(), registry=registry
        )

    def _address(self) -> str:
        if self.endpoint is not None:
            return self.endpoint.address
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host')}:{kwargs.get('port')}"

    def _label(self) -> str:
        database = f"database {self.db} of redis://{self._address()}"
        return database if self._scope is None else f"the keys under {self.prefix!r} in {database}"

    @property
    def db(self) -> int:
        """The database index ``client`` uses (hand it to the app under test)."""
        return int(self.client.connection_pool.connection_kwargs.get("db", 0) or 0)

    @property
    def url(self) -> str:
        """``redis://[:password@]host:port/<db>``: this scope's database, for the app under test
        (in ``prefix`` mode the app must also use :attr:`prefix`)."""
        if self.endpoint is not None:
            return dataclasses.replace(self.endpoint, database=str(self.db)).url
        kwargs = self.client.connection_pool.connection_kwargs
        password = kwargs.get("password")
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{self.db}"

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        *,
        namespace: Namespace | None = None,
        isolation: str = "db",
        registry: OwnershipRegistry | None = None,
        **options: Any,
    ) -> RedisKit:
        """Connect to ``endpoint`` in the scope of ``namespace`` (default: this worker's).

        ``db`` mode uses ``namespace.redis_db``; ``prefix`` mode the endpoint's database
        and ``namespace.key_prefix``. ``registry``: where the claim is recorded on this
        machine (see :mod:`integration_kit.redis.ownership`). ``options`` go to
        ``redis.asyncio.Redis``.
        """
        state._check_isolation(isolation)
        namespace = namespace if namespace is not None else Namespace.current()
        if isolation == "db":
            client = await open_client(endpoint, db=namespace.redis_db, **options)
            return cls(client, isolation="db", endpoint=endpoint, registry=registry)
        client = await open_client(endpoint, db=int(endpoint.database or 0), **options)
        return cls(
            client, isolation="prefix", prefix=namespace.key_prefix, endpoint=endpoint, registry=registry
        )

    def key(self, name: str) -> str:
        """``name`` inside this scope (prefixed in ``prefix`` mode)."""
        return self.prefix + name

    @property
    def _scope(self) -> str | None:
        return self.prefix if self.isolation == "prefix" else None

    async def claim(self) -> None:
        """Take the scope for the kit (see :mod:`integration_kit.redis.ownership`).

        ``IK-REDIS-DB-FOREIGN`` if it holds data the kit did not write; nothing is deleted.
        :meth:`reset` and :meth:`restore` claim first if this was not called.
        """
        await self.ownership.claim()

    async def mark(self) -> None:
        """Write the scope's owner key back (after a test emptied or filled the scope)."""
        await self.ownership.mark()

    async def release(self) -> None:
        """Remove every key of the scope and its owner key, if the scope is still the kit's."""
        await self.ownership.release()

    async def reset(self) -> None:
        """Remove every key of the scope (``FLUSHDB ASYNC`` in ``db`` mode), once it is the kit's."""
        await self.ownership.check()
        await state.reset(self.client, prefix=self._scope)

    async def snapshot(self) -> RedisSnapshot:
        """Snapshot the scope's keys with their TTLs; :meth:`restore` brings them back."""
        self.snapshot_taken = await state.take_snapshot(
            self.client, prefix=self._scope, exclude=(self.ownership.key.encode(),)
        )
        return self.snapshot_taken

    async def restore(self, snapshot: RedisSnapshot | None = None) -> None:
        """Return the scope to ``snapshot`` (default: the last one taken), or reset it if none."""
        snapshot = snapshot if snapshot is not None else self.snapshot_taken
        if snapshot is None:
            await self.reset()
        else:
            await self.ownership.check()
            await state.restore(self.client, snapshot)

    async def assert_ttl(self, key: KeyT, *, between: tuple[float, float]) -> float:
        """``IK-REDIS-TTL-MISMATCH`` unless ``key`` expires within ``between`` seconds."""
        return await assertions.assert_ttl(self.client, key, between=between)

    async def assert_no_key(self, *keys: KeyT) -> None:
        """``IK-REDIS-KEY-EXISTS`` if any of ``keys`` exists."""
        await assertions.assert_no_key(self.client, *keys)

    async def aclose(self) -> None:
        await self.client.aclose()

    def __repr__(self) -> str:
        return f"RedisKit(isolation={self.isolation!r}, prefix={self.prefix!r}, client={self.client!r})"
