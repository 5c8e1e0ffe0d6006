"""The janitor: creates, clones, renames, drops and reaps the kit's own databases.

Every database the kit creates is named ``ik_...`` (per worker through
:class:`~integration_kit.services.namespace.Namespace`) and carries a comment naming its
owner (``integration-kit owner: run=<id> host=<name> pid=<n> start=<ticks>``, a
:class:`~integration_kit.services.ownership.Owner`). A database is dropped only by the process
that created it, or, at start, when its comment names a run that is provably dead on this
host (same host name; pid gone, or reused by a process with another start time). A database
without both the name prefix and a well-formed comment, or whose comment names another host
(a dump of a kit database restored elsewhere), is never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

from integration_kit.errors import ErrorCode, PostgresError
from integration_kit.services.ownership import Owner

log = logging.getLogger("integration_kit.postgres")

KIT_PREFIX = "ik_"
COMMENT_PREFIX = "integration-kit owner: "
APPLICATION_NAME = "integration-kit"
_RACE_ATTEMPTS = 50
SETTLE_S = 0.1  # how long a session running a statement may take to end on its own


def quote_ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def owner_comment(owner: Owner) -> str:
    """The database comment naming ``owner`` (``integration-kit owner: <marker>``)."""
    return COMMENT_PREFIX + owner.text


def comment_owner(comment: str | bytes | None) -> Owner | None:
    """The owner a database comment names; None for any other comment (never dropped)."""
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", errors="replace")
    if not comment or not comment.startswith(COMMENT_PREFIX):
        return None
    return Owner.parse(comment[len(COMMENT_PREFIX) :])


class Janitor:
    """Database administration on one server, through the maintenance database.

    ``admin_dsn`` points at a database the kit never replaces (usually ``postgres``).
    Use as ``async with Janitor(dsn) as janitor:``; the first use checks privileges
    (``IK-PG-INSUFFICIENT-PRIVILEGE`` without CREATEDB) and reaps leftovers of dead runs.
    """

    def __init__(self, admin_dsn: str, *, max_connections: int = 4) -> None:
        self.admin_dsn = admin_dsn
        self.owner = Owner.current()
        self.comment = owner_comment(self.owner)
        self._max_connections = max_connections
        self._pool: asyncpg.Pool | None = None
        self._role: str = "?"

    async def __aenter__(self) -> Janitor:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._pool is not None:
            return
        self._pool = await asyncpg.create_pool(
            self.admin_dsn,
            min_size=1,
            max_size=self._max_connections,
            server_settings={"application_name": APPLICATION_NAME},
            reset=_no_reset,
        )
        try:
            await self.check_privileges()
            await self.reap()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Janitor is not open")
        return self._pool

    def dsn(self, database: str) -> str:
        """The admin DSN pointed at ``database``."""
        return dsn_for(self.admin_dsn, database)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.pool.acquire() as conn:
            return await conn.execute(sql, *args)

    async def check_privileges(self) -> None:
        """Raise ``IK-PG-INSUFFICIENT-PRIVILEGE`` unless the role may create databases."""
        row = await self.pool.fetchrow(
            "select current_user as role, rolcreatedb, rolsuper from pg_roles where rolname = current_user"
        )
        self._role = row["role"]
        if not (row["rolcreatedb"] or row["rolsuper"]):
            raise PostgresError(
                ErrorCode.PG_INSUFFICIENT_PRIVILEGE,
                role=row["role"],
                privilege="CREATEDB",
                cause="the kit creates a database per worker and clones snapshots",
            )

    # --- databases -------------------------------------------------------------------

    async def exists(self, name: str) -> bool:
        return bool(await self.pool.fetchval("select 1 from pg_database where datname = $1", name))

    async def create(
        self, name: str, *, template: str | None = None, fallback: bool = True, retries: int = 50
    ) -> str:
        """Create ``name`` (a clone of ``template`` if given) with the owner comment.

        If ``name`` is taken by a leftover of this process or of a dead run it is dropped
        and recreated; if it belongs to someone else and ``fallback`` is set, a name
        with this process's token is used instead. Returns the name created.
        """
        try:
            await self._create(name, template, retries)
            return name
        except asyncpg.DuplicateDatabaseError:
            owner = await self.owner_of(name)
            if owner is not None and (owner == self.owner or not owner.alive()):
                log.info("integration-kit: dropping leftover database %r (owner %s)", name, owner)
                await self.drop(name)
                await self._create(name, template, retries)
                return name
            if not fallback:
                raise
            other = self.unique_name(name)
            await self._create(other, template, retries)
            return other

    def unique_name(self, name: str) -> str:
        """``name`` made unique to this process (before any worker suffix)."""
        from integration_kit.services.namespace import _WORKER_SUFFIX, PG_MAX_IDENTIFIER, _fit

        token = _base36(self.owner.pid)
        match = _WORKER_SUFFIX.search(name)
        suffix = match.group(0) if match else ""
        head = name[: len(name) - len(suffix)]
        return _fit(f"{head}_{token}", PG_MAX_IDENTIFIER - len(suffix)) + suffix

    def derived_name(self, database: str, tag: str) -> str:
        """A name for a helper database of ``database`` (spare, retired copy, named snapshot).

        ``ik_test_gw0`` + ``s3`` -> ``ik_test_s3_<process token>_gw0``, at most 63 bytes.
        """
        from integration_kit.services.namespace import _WORKER_SUFFIX, PG_MAX_IDENTIFIER, _fit

        match = _WORKER_SUFFIX.search(database)
        suffix = match.group(0) if match else ""
        head = database[: len(database) - len(suffix)]
        tail = f"_{tag}_{_base36(self.owner.pid)}"
        return _fit(head, PG_MAX_IDENTIFIER - len(suffix) - len(tail)) + tail + suffix

    async def _create(self, name: str, template: str | None, retries: int) -> None:
        sql = f"create database {quote_ident(name)}"
        if template is not None:
            sql += f" template {quote_ident(template)} strategy file_copy"
        comment = f"comment on database {quote_ident(name)} is {quote_literal(self.comment)}"
        async with self.pool.acquire() as conn:
            try:
                for attempt in range(retries):
                    try:
                        await conn.execute(sql)
                        break
                    except asyncpg.ObjectInUseError:
                        # "source database is being accessed by other users": a kit connection
                        # to the template is closing; wait for it briefly.
                        if attempt == retries - 1:
                            raise
                        await asyncio.sleep(0.02)
            except asyncpg.InsufficientPrivilegeError as exc:
                raise PostgresError(
                    ErrorCode.PG_INSUFFICIENT_PRIVILEGE, role=self._role, privilege="CREATEDB", cause=exc
                ) from exc
            await conn.execute(comment)

    async def apply_state(self, name: str, state: Any) -> None:
        """Give the clone ``name`` the database-level ``state`` (a ``DatabaseState``)."""
        if state.is_default_for(self._role):
            return
        async with self.pool.acquire() as conn:
            await state.apply(conn, name)

    async def drop(self, name: str) -> None:
        """Drop ``name`` if it exists, terminating its connections."""
        async with self.pool.acquire() as conn:
            await conn.execute(f"drop database if exists {quote_ident(name)} with (force)")

    async def owner_of(self, name: str) -> Owner | None:
        comment = await self.pool.fetchval(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = $1", name
        )
        return comment_owner(comment) if name.startswith(KIT_PREFIX) else None

    async def connections(self, name: str) -> list[asyncpg.Record]:
        """Sessions connected to ``name`` other than the caller."""
        return await self.pool.fetch(
            "select pid, usename, application_name, client_addr, state, "
            "left(ltrim(query), 200) as query from pg_stat_activity "
            "where datname = $1 and pid <> pg_backend_pid()",
            name,
        )

    async def _settled(self, name: str, ignore: Collection[int]) -> list[asyncpg.Record]:
        """The sessions on ``name`` once those running a statement had ``SETTLE_S`` to end: a
        pool that was just closed (``on_restore``) may still show its last statement running
        for a few ms under load, and is not code under test holding a transaction."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            sessions = [s for s in await self.connections(name) if s["pid"] not in ignore]
            if not any(s["state"] == "active" for s in sessions) or time.monotonic() >= deadline:
                return sessions
            await asyncio.sleep(0.02)

    async def terminate(
        self,
        name: str,
        *,
        reason: str,
        only_in_transaction: bool = False,
        ignore: Collection[int] = (),
        sessions: Sequence[asyncpg.Record] | None = None,
        wait: bool = True,
    ) -> list[int]:
        """Terminate sessions on ``name`` (code under test) and log one clear line.

        ``ignore``: pids of the kit's own sessions that are closing anyway (not logged).
        ``sessions``: the result of :meth:`connections` if the caller has it already.
        """
        if sessions is None:
            sessions = await self.connections(name)
        sessions = [s for s in sessions if s["pid"] not in ignore]
        if any(s["state"] == "active" for s in sessions):
            sessions = await self._settled(name, ignore)
        if only_in_transaction:
            sessions = [s for s in sessions if s["state"] and s["state"] != "idle"]
        if not sessions:
            return []
        pids = [s["pid"] for s in sessions]
        listening = [s for s in sessions if (s["query"] or "")[:7].lower() == "listen "]
        busy = [s for s in sessions if s["state"] and s["state"] != "idle"]
        described = ", ".join(
            f"pid {s['pid']} ({s['application_name'] or s['usename']}, {s['state']})" for s in sessions
        )
        # Idle sessions of the app's pool are the normal case (DEBUG); a session inside a
        # transaction or one that was listening loses something the test may rely on.
        level = logging.WARNING if busy or listening else logging.DEBUG
        heard = ""
        if listening:
            heard = (
                "; pid(s) "
                + ", ".join(str(s["pid"]) for s in listening)
                + " last ran LISTEN and stop hearing notifications (subscribe again after restores: "
                "self.postgres.listen() or on_restore(after=...))"
            )
        log.log(
            level,
            "integration-kit: terminating %d connection(s) to database %r held by code under test "
            "before %s: %s; pools reconnect to the same name (register them with "
            "self.postgres.on_restore() so none hands out a terminated connection)%s",
            len(pids),
            name,
            reason,
            described,
            heard,
        )
        # pg_terminate_backend(pid, timeout) polls in 100 ms steps; poll faster ourselves
        await self.pool.execute("select pg_terminate_backend(pid) from unnest($1::int[]) as pid", pids)
        if wait:
            await self.wait_gone(pids)
        return pids

    async def wait_gone(self, pids: Sequence[int], *, timeout: float = 5) -> None:
        """Wait until the server sessions ``pids`` have exited."""
        if not pids:
            return
        deadline = time.monotonic() + timeout
        delay = 0.0002
        while await self.pool.fetchval(
            "select count(*) from pg_stat_activity where pid = any($1::int[])", list(pids)
        ):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def swap(self, current: str, spare: str, *, retired: str, closing: Sequence[int] = ()) -> None:
        """Put ``spare`` in place of ``current``; ``current`` becomes ``retired``.

        ``closing``: pids of the kit's own sessions on ``current``, just closed. Sessions of
        code under test are terminated with a log line; while there are any, ``current``
        refuses new connections so a pool reconnecting at once cannot race the rename (its
        attempts fail for that instant and reach the new copy right after). Both renames
        run in one statement batch: one round trip, one transaction.
        """
        rename = (
            f"alter database {quote_ident(current)} rename to {quote_ident(retired)}; "
            f"alter database {quote_ident(spare)} rename to {quote_ident(current)}"
        )
        reason = "restoring it (swap)"
        async with self.pool.acquire() as conn:
            for attempt in range(_RACE_ATTEMPTS):
                if attempt == 0:
                    sessions = [s for s in await self.connections(current) if s["pid"] not in closing]
                    if sessions:
                        await self._refuse_connections(conn, current)
                        pids = await self.terminate(current, reason=reason, sessions=sessions, wait=False)
                        await self.wait_gone([*pids, *closing])
                else:
                    await self._refuse_connections(conn, current)
                    pids = await self.terminate(current, reason=reason, ignore=closing, wait=False)
                    await self.wait_gone([*pids, *closing])
                try:
                    await conn.execute(rename)
                    return
                except asyncpg.ObjectInUseError:
                    if attempt == _RACE_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.0005 * attempt)

    async def _refuse_connections(self, conn: asyncpg.Connection, name: str, refuse: bool = True) -> None:
        allow = "false" if refuse else "true"
        await conn.execute(f"alter database {quote_ident(name)} allow_connections {allow}")

    async def clone_live(self, source: str, target: str) -> str:
        """Clone ``source`` while code under test may be connected to it (terminated, logged),
        with its database-level state."""
        from integration_kit.postgres.database_state import DatabaseState

        state = await DatabaseState.read(self.pool, source)
        async with self.pool.acquire() as conn:
            await self._refuse_connections(conn, source)
            try:
                for attempt in range(_RACE_ATTEMPTS):
                    await self.terminate(source, reason="cloning it into a named snapshot")
                    try:
                        created = await self.create(target, template=source, retries=1)
                    except asyncpg.ObjectInUseError:
                        if attempt == _RACE_ATTEMPTS - 1:
                            raise
                        await asyncio.sleep(0.001 * (attempt + 1))
                        continue
                    try:
                        await self.apply_state(created, state)
                    except BaseException:
                        await self.drop(created)
                        raise
                    return created
            finally:
                await self._refuse_connections(conn, source, refuse=False)
        raise AssertionError("unreachable")

    async def reap(self) -> list[str]:
        """Drop kit databases whose owner process is dead; return their names."""
        rows = await self.pool.fetch(
            "select datname, shobj_description(oid, 'pg_database') as comment from pg_database "
            "where datname like 'ik\\_%' and shobj_description(oid, 'pg_database') like $1",
            COMMENT_PREFIX + "%",
        )
        reaped: list[str] = []
        for row in rows:
            owner = comment_owner(row["comment"])
            if owner is None or owner.alive():
                continue
            try:
                await self.drop(row["datname"])
            except (asyncpg.InvalidCatalogNameError, asyncpg.ObjectInUseError):
                continue  # another worker reaps it right now
            log.info("integration-kit: dropped database %r left by dead run %s", row["datname"], owner)
            reaped.append(row["datname"])
        return reaped

    async def own_databases(self) -> list[str]:
        """Names of the databases this process owns on the server."""
        rows = await self.pool.fetch(
            "select datname from pg_database where shobj_description(oid, 'pg_database') = $1",
            self.comment,
        )
        return [r["datname"] for r in rows]


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Admin connections keep no session state: skip the reset round trip on release."""


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rem = divmod(number, 36)
        out = digits[rem] + out
        if number == 0:
            return out


def dsn_for(dsn: str, database: str) -> str:
    """``dsn`` with its database replaced by ``database``."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, ""))


async def drop_databases(admin_dsn: str, names: Sequence[str]) -> None:
    """Drop ``names`` over a fresh connection (for cleanup outside the session loop)."""
    if not names:
        return
    conn = await asyncpg.connect(admin_dsn, server_settings={"application_name": APPLICATION_NAME})
    try:
        for name in names:
            await conn.execute(f"drop database if exists {quote_ident(name)} with (force)")
    finally:
        await conn.close()


def monotonic_ms() -> float:
    return time.perf_counter() * 1000.0
