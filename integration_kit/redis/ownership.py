"""Ownership of a Redis scope (a database, or the keys under a prefix): claim, check, release.

The kit empties a scope only while it owns it. It claims a scope by writing an owner key
(:data:`OWNER_KEY`, the text marker of an :class:`~integration_kit.services.ownership.Owner`)
into it when the scope is empty, or when the only owner key there names this process or a
run that is provably dead on this host. A non-empty scope without such a key is someone
else's data: ``IK-REDIS-DB-FOREIGN``, nothing is deleted.

While a test runs the owner key is absent (the test sees an empty database, as documented);
it is written back after each test (``SET NX GET``, which also tells whether another process
claimed the scope meanwhile), so between tests the scope carries its owner. A scope that
changed hands is never reset again (``IK-REDIS-DB-FOREIGN``). Snapshots leave the owner key
out.

With an :class:`~integration_kit.services.registry.OwnershipRegistry` (``RedisTestCase``
passes the run's), a claimed scope is also recorded on this machine, keyed by the server
instance (address + the server's ``run_id``), until it is released. A run killed *during* a
test leaves keys without an owner key; the row tells the next run of this host that they
are a dead run's, and it empties the scope and takes it. Taking over is one ``WATCH``ed
transaction: a process that writes the owner key meanwhile wins, and nothing of its is
deleted.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError as _DriverError
from redis.exceptions import ResponseError, WatchError

from integration_kit.errors import ErrorCode, RedisError
from integration_kit.redis import state
from integration_kit.redis.client import open_client
from integration_kit.redis.state import glob_escape
from integration_kit.services.base import Endpoint
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import OwnershipRegistry

log = logging.getLogger("integration_kit.redis")

OWNER_KEY = "__integration_kit_owner__"
_SAMPLE = 5
_SWEPT: set[tuple[str, tuple[int, ...]]] = set()


def owner_key(prefix: str | None) -> str:
    """The owner key of a scope: :data:`OWNER_KEY` in ``db`` mode, under the prefix otherwise."""
    return OWNER_KEY if prefix is None else prefix + OWNER_KEY


@dataclass(frozen=True)
class RedisServer:
    """A Redis server instance as the registry keys it: address and the server's ``run_id``
    (new at every restart, so rows of an earlier instance never match)."""

    address: str
    run_id: str

    @property
    def key(self) -> str:
        return f"redis://{self.address}#{self.run_id}"


async def server_of(client: aioredis.Redis, address: str) -> RedisServer:
    """The server ``client`` talks to (``INFO server``; run id ``unknown`` where refused)."""
    try:
        info = await client.info("server")
    except _DriverError:
        info = {}
    return RedisServer(address, str(info.get("run_id") or "unknown"))


class ScopeOwnership:
    """This process's claim on one scope of one client.

    ``label`` describes the scope in errors (``database 1 of redis://host:port``);
    ``address`` (``host:port``) and ``registry`` record the claim on this machine.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        prefix: str | None,
        label: str,
        address: str = "",
        registry: OwnershipRegistry | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.label = label
        self.address = address
        self.registry = registry
        self.owner = Owner.current()
        self.key = owner_key(prefix)
        self.claimed = False
        self.lost: str | None = None  # who took the scope, once mark() saw it
        self._server: RedisServer | None = None

    @property
    def name(self) -> str:
        """The scope's name in the registry: ``db<N>`` or ``db<N>/<prefix>``."""
        db = int(self.client.connection_pool.connection_kwargs.get("db", 0) or 0)
        return f"db{db}" if self.prefix is None else f"db{db}/{self.prefix}"

    async def _place(self) -> RedisServer:
        if self._server is None:
            self._server = await server_of(self.client, self.address)
        return self._server

    async def _sample(self) -> tuple[int, list[bytes]]:
        """How many keys the scope holds (at least), and a few of their names."""
        if self.prefix is None:
            size = int(await self.client.dbsize())
            sample = [] if not size else list((await self.client.scan(0, count=50))[1])[:_SAMPLE]
            return size, [k if isinstance(k, bytes) else str(k).encode() for k in sample]
        keys: list[bytes] = []
        async for key in self.client.scan_iter(match=glob_escape(self.prefix) + "*", count=1000):
            keys.append(key if isinstance(key, bytes) else str(key).encode())
            if len(keys) > 100:
                break
        return len(keys), keys[:_SAMPLE]

    def _foreign(self, found: str) -> RedisError:
        return RedisError(ErrorCode.REDIS_DB_FOREIGN, scope=self.label, found=found)

    async def _read_owner(self) -> tuple[bytes | None, Owner | None]:
        raw = await self.client.get(self.key)
        if raw is not None and not isinstance(raw, bytes):
            raw = str(raw).encode()
        return raw, Owner.parse(raw)

    async def recorded_dead_owner(self) -> Owner | None:
        """The owner the registry records for this scope, if it is provably dead on this host."""
        if self.registry is None:
            return None
        recorded = self.registry.owners(await self._place(), [self.name]).get(self.name)
        return recorded if recorded is not None and not recorded.alive() else None

    async def claim(self) -> None:
        """Take the scope, or raise ``IK-REDIS-DB-FOREIGN`` (nothing is deleted then).

        Empty: the owner key is written. Our own key: nothing to do. A dead run's key
        (this host), or keys and no owner key where the registry records a dead run of
        this host: the scope is the dead run's leftover; it is emptied and taken.
        """
        for _ in range(3):
            raw, found = await self._read_owner()
            if found == self.owner:
                await self._claimed()
                return
            if found is not None and not found.alive() and raw is not None:
                if await self.take_over(raw, keep=True):
                    await self._claimed()
                    return
                continue  # the owner key changed meanwhile: look again
            size, sample = await self._sample()
            if raw is not None:
                who = found.describe() if found is not None else f"unreadable marker {raw[:80]!r}"
                raise self._foreign(f"{size} key(s), owner key {self.key!r} names {who}")
            if size:
                dead = await self.recorded_dead_owner()
                if dead is not None:  # a run killed during a test: its keys, no owner key
                    if await self.take_over(None, keep=True):
                        log.info(
                            "integration-kit: emptied %s left by dead run %s", self.label, dead.describe()
                        )
                        await self._claimed()
                        return
                    continue
                names = ", ".join(repr(k) for k in sample)
                raise self._foreign(f"{size} key(s) and no owner key, e.g. {names}")
            if await self.client.set(self.key, self.owner.text, nx=True):
                await self._claimed()
                return
        raise self._foreign("another process claimed it at the same moment")

    async def _claimed(self) -> None:
        self.claimed, self.lost = True, None
        if self.registry is not None:
            self.registry.record(await self._place(), [self.name], self.owner)

    async def check(self) -> None:
        """Before emptying the scope: claim it if not yet done; ``IK-REDIS-DB-FOREIGN`` if it was lost.

        No round trip once claimed: :meth:`mark` verifies the owner key after every test
        (a claim by another process can only happen while the key is absent, in a test).
        """
        if not self.claimed:
            await self.claim()
        elif self.lost is not None:
            raise self._foreign(f"owner key {self.key!r} now names {self.lost}")

    async def mark(self) -> None:
        """After a test: put the owner key back, and notice if another process took the scope.

        One ``SET ... NX GET``: it answers the key that was there, if any.
        """
        if not self.claimed:
            return
        previous = await self.client.set(self.key, self.owner.text, nx=True, get=True)
        if previous is None:
            return
        if not isinstance(previous, bytes):
            previous = str(previous).encode()
        found = Owner.parse(previous)
        if found != self.owner:
            self.lost = found.describe() if found is not None else f"unreadable marker {previous[:80]!r}"

    async def release(self) -> None:
        """At the end: empty the scope and remove the owner key, if the scope is still ours."""
        if not self.claimed:
            return
        await self.check()
        await self._empty()
        self.claimed = False
        if self.registry is not None:
            self.registry.forget(await self._place(), [self.name], self.owner)

    async def take_over(self, raw: bytes | None, *, keep: bool) -> bool:
        """Empty the scope if its owner key still reads ``raw`` (None: is still absent) and,
        with ``keep``, write ours, atomically; False if the key changed in between."""
        keys = [] if self.prefix is None else await state.scan_keys(self.client, prefix=self.prefix)
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                await pipe.watch(self.key)
                current = await pipe.get(self.key)
                if current is not None and not isinstance(current, bytes):
                    current = str(current).encode()
                if current != raw:
                    return False
                pipe.multi()
                if self.prefix is None:
                    pipe.flushdb()
                else:
                    for start in range(0, len(keys), 1000):
                        pipe.unlink(*keys[start : start + 1000])
                    pipe.unlink(self.key)
                if keep:
                    pipe.set(self.key, self.owner.text)
                await pipe.execute()
        except WatchError:
            return False
        return True

    async def _empty(self) -> None:
        await state.reset(self.client, prefix=self.prefix)


async def reap_dead_databases(
    endpoint: Endpoint, databases: tuple[int, ...], *, registry: OwnershipRegistry | None = None
) -> list[int]:
    """Empty the declared ``databases`` a run provably dead on this host left behind.

    A database is a dead run's when its owner key names one, or when it has no owner key
    and ``registry`` records a dead run's claim on it (a run killed during a test). Once
    per process and server, whichever databases this run's workers pick. A database whose
    key names a live run or another host, or holding keys nobody recorded, is not
    touched; one the server lacks is skipped. Returns the databases emptied.
    """
    if (endpoint.address, databases) in _SWEPT:
        return []
    _SWEPT.add((endpoint.address, databases))
    # One connection per database, all at once: a sweep of 15 databases costs one round
    # trip's time, not 15 connection set-ups in a row (each class's first setup waited).
    outcomes = await asyncio.gather(*(_reap_database(endpoint, db, registry) for db in databases))
    return [db for db, emptied in zip(databases, outcomes, strict=True) if emptied]


async def _reap_database(endpoint: Endpoint, db: int, registry: OwnershipRegistry | None) -> bool:
    """Empty database ``db`` if a run provably dead on this host left it (see above)."""
    try:
        client = await open_client(endpoint, db=db)
    except RedisError:
        return False  # IK-REDIS-DB-UNAVAILABLE: the worker that picks it reports it
    label = f"database {db} of redis://{endpoint.address}"
    scope = ScopeOwnership(client, prefix=None, label=label, address=endpoint.address, registry=registry)
    try:
        raw, found = await scope._read_owner()
        dead = found if found is not None and not found.alive() else None
        if raw is None:
            dead = await scope.recorded_dead_owner()
        elif dead is None:
            return False  # a live run's, another host's, or unreadable
        if dead is None or not await scope.take_over(raw, keep=False):
            return False
        if registry is not None:
            registry.forget(await scope._place(), [scope.name], dead)
        log.info("integration-kit: emptied %s left by dead run %s", label, dead.describe())
        return True
    except ResponseError:
        return False
    finally:
        await client.aclose()
