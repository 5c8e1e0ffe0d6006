"""In-process Redis for unit tests: fakeredis for command coverage, with Redis's exact expiry.

:class:`MockRedisClient` is a ``redis.asyncio.Redis`` (and :class:`MockRedisSyncClient`
a ``redis.Redis``) that talks to a :class:`MockRedisServer` in memory. Each client gets
its own server unless one is shared explicitly with ``server=``, so no state leaks
between tests.

Time comes from the server's clock (:mod:`integration_kit.mocks.clock`): the system
clock by default, or a :class:`~integration_kit.mocks.clock.VirtualClock` that expires
keys only when the test advances it. Like Redis, the server reads the clock once per
command (its ``commandTimeSnapshot``) and counts in whole milliseconds.

Where fakeredis differs from Redis on expiry, the mock follows Redis (each fix is pinned
by ``tests/fidelity/redis``): ``TTL`` rounds half up, ``SETEX``/``PSETEX``/``GETEX`` keep
millisecond deadlines, ``EXPIRE`` with a deadline not in the future deletes the key,
``GETEX`` on a missing key ignores its options, ``EXPIRETIME`` rounds half up,
``HTTL``/``HEXPIRETIME`` round up, and ``GT`` with ``LT`` has Redis's own error.
Commands newer than the declared ``version`` are unknown, as on that server: hash-field
expiry (``HEXPIRE`` ...) needs 7.4, ``HGETEX``/``HSETEX``/``HGETDEL`` need 8.0.

How the clock reaches fakeredis: the mock's socket sets every database's time before
each command (fakeredis's own hook), and hash-field expiry, which fakeredis reads from
``fakeredis._helpers.current_time``, sees the command's time through a context variable.
Outside a mock's command that function falls back to the real time, so plain fakeredis
clients in the same process are unaffected, and two mocks with different clocks never
see each other's time.
"""

from __future__ import annotations

import contextvars
import sys
from collections import defaultdict
from typing import Any

import fakeredis
import fakeredis._helpers as _fr_helpers
from fakeredis import _msgs as msgs
from fakeredis._clients._async import FakeAsyncRedisConnection, FakeReader, FakeWriter
from fakeredis._clients._sync import FakeRedisConnection
from fakeredis._core import FakeServer
from fakeredis._core._database import Database
from fakeredis._helpers import OK, SimpleError, casematch
from fakeredis._socket import AsyncFakeSocket, FakeSocket

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.clock import Clock, SystemClock

__all__ = ["DEFAULT_VERSION", "MockRedisClient", "MockRedisServer", "MockRedisSyncClient"]

DEFAULT_VERSION: tuple[int, ...] = (7, 4)
"""Redis version a mock emulates unless told otherwise (the newest 7.x, with hash-field TTLs)."""

# Commands that do not exist before a version: the mock answers "unknown command", as Redis does.
_MIN_VERSION: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(
        (
            "hexpire",
            "hpexpire",
            "hexpireat",
            "hpexpireat",
            "hpersist",
            "httl",
            "hpttl",
            "hexpiretime",
            "hpexpiretime",
        ),
        (7, 4),
    ),
    **dict.fromkeys(("hgetdel", "hgetex", "hsetex"), (8, 0)),
}
_MAX_MS = 2**63

# The time of the command being run by a mock (Redis's commandTimeSnapshot), in ms.
_COMMAND_TIME_MS: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "integration_kit_mock_redis_time_ms", default=None
)
_REAL_CURRENT_TIME = _fr_helpers.current_time


def _current_time_ms() -> int:
    """``fakeredis._helpers.current_time`` that honours a mock's clock during its commands."""
    now = _COMMAND_TIME_MS.get()
    return _REAL_CURRENT_TIME() if now is None else now


def _install_time_hook() -> None:
    """Point fakeredis's millisecond clock at :func:`_current_time_ms` (idempotent).

    fakeredis modules import ``current_time`` by name, so each binding is replaced.
    Behaviour outside a mock's command is unchanged.
    """
    for name, module in list(sys.modules.items()):
        if (name == "fakeredis" or name.startswith("fakeredis.")) and getattr(
            module, "current_time", None
        ) is _REAL_CURRENT_TIME:
            module.current_time = _current_time_ms  # type: ignore[attr-defined]


_install_time_hook()


def parse_version(version: Any) -> tuple[int, ...]:
    """``"7.4"``, ``"7.0.15"``, ``7``, ``(7, 4)`` -> a version tuple (else IK-MOCK-UNSUPPORTED-VERSION)."""
    try:
        if isinstance(version, tuple) and version and all(isinstance(p, int) for p in version):
            parsed = version
        elif isinstance(version, int) and not isinstance(version, bool):
            parsed = (version,)
        elif isinstance(version, str):
            parsed = tuple(int(part) for part in version.strip().split("."))
        else:
            raise ValueError(version)
    except ValueError as exc:
        raise MockError(
            ErrorCode.MOCK_UNSUPPORTED_VERSION,
            mock="MockRedisServer",
            version=version,
            cause="not a version number",
        ) from exc
    if parsed < (6,):
        raise MockError(
            ErrorCode.MOCK_UNSUPPORTED_VERSION,
            mock="MockRedisServer",
            version=version,
            cause="versions before 6.0 are not emulated",
        )
    return parsed


class _MsDatabase(Database):
    """A fakeredis database whose deadlines are whole milliseconds, like Redis's."""

    def __init__(self, lock: Any, clock: Clock) -> None:
        super().__init__(lock)
        self.time = clock.time_ms() / 1000

    def schedule_expiry(self, key: bytes, expireat: float | None) -> None:
        if expireat is not None:
            expireat = round(expireat * 1000) / 1000
            item = self._dict.get(key)
            if item is not None and item.expireat is not None:
                item.expireat = expireat
        super().schedule_expiry(key, expireat)


class MockRedisServer(FakeServer):
    """The in-memory server behind mock clients; share one to let clients see the same data.

    ``clock`` defaults to the system clock; ``version`` (default :data:`DEFAULT_VERSION`)
    decides which commands exist.
    """

    def __init__(self, *, clock: Clock | None = None, version: Any = DEFAULT_VERSION) -> None:
        parsed = parse_version(version)
        _install_time_hook()  # fakeredis modules imported since this module was
        super().__init__(version=parsed, server_type="redis")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.dbs = defaultdict(lambda: _MsDatabase(self.lock, self.clock))

    def __repr__(self) -> str:
        version = ".".join(map(str, self.version))
        return f"MockRedisServer(version={version!r}, clock={self.clock!r})"


def _resolve_server(mock: str, clock: Clock | None, server: Any, version: Any) -> MockRedisServer:
    if server is None:
        return MockRedisServer(clock=clock, version=DEFAULT_VERSION if version is None else version)
    if not isinstance(server, MockRedisServer):
        raise MockError(ErrorCode.MOCK_FOREIGN_SERVER, mock=mock, server_type=type(server).__name__)
    if clock is not None and clock is not server.clock:
        raise MockError(ErrorCode.MOCK_CLOCK_CONFLICT, mock=mock, clock=clock, server_clock=server.clock)
    if version is not None and parse_version(version) != server.version:
        raise MockError(
            ErrorCode.MOCK_UNSUPPORTED_VERSION,
            mock=mock,
            version=version,
            cause=f"the shared server emulates {'.'.join(map(str, server.version))}",
        )
    return server


class _ClockedCommands:
    """Command overrides shared by the sync and async mock sockets (mixed in before FakeSocket)."""

    _server: Any  # a MockRedisServer (typed loosely to match fakeredis's sockets)
    _db: Any

    # --- time: one reading per command, in whole milliseconds ---
    def _run_command(self, func: Any, sig: Any, args: list[Any], from_script: bool) -> Any:
        # Commands inside EXEC or a script keep the time of the outer command, as in Redis.
        outer = _COMMAND_TIME_MS.get()
        now_ms = self._server.clock.time_ms() if outer is None else outer
        now = now_ms / 1000
        for db in self._server.dbs.values():
            db.time = now
        token = _COMMAND_TIME_MS.set(now_ms)
        try:
            return super()._run_command(func, sig, args, from_script)  # type: ignore[misc]
        finally:
            _COMMAND_TIME_MS.reset(token)

    def _name_to_func(self, cmd_name: str) -> Any:
        needed = _MIN_VERSION.get(cmd_name)
        if needed is not None and self._server.version < needed:
            raise self._unknown_command(cmd_name)  # type: ignore[attr-defined]
        return super()._name_to_func(cmd_name)  # type: ignore[misc]

    def _now_ms(self) -> int:
        return round(self._db.time * 1000)

    @staticmethod
    def _deadline_ms(key: Any) -> int | None:
        return None if key.expireat is None else round(key.expireat * 1000)

    def time(self) -> list[bytes]:
        now_us = self._server.clock.time_ms() * 1000
        return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]

    # --- key TTLs (db.c ttlGenericCommand) ---
    def _ttl(self, key: Any, scale: float) -> int:
        if not key:
            return -2
        deadline = self._deadline_ms(key)
        if deadline is None:
            return -1
        ms = max(0, deadline - self._now_ms())
        return ms if scale == 1000.0 else (ms + 500) // 1000

    def expiretime(self, key: Any) -> int:
        if not key:
            return -2
        deadline = self._deadline_ms(key)
        return -1 if deadline is None else (deadline + 500) // 1000

    def pexpiretime(self, key: Any) -> int:
        if not key:
            return -2
        deadline = self._deadline_ms(key)
        return -1 if deadline is None else deadline

    # --- EXPIRE family (expire.c expireGenericCommand) ---
    def _expireat(self, key: Any, timestamp: float, *args: bytes) -> int:
        nx = xx = gt = lt = False
        for arg in args:
            if casematch(arg, b"nx"):
                nx = True
            elif casematch(arg, b"xx"):
                xx = True
            elif casematch(arg, b"gt"):
                gt = True
            elif casematch(arg, b"lt"):
                lt = True
            else:
                raise SimpleError(msgs.EXPIRE_UNSUPPORTED_OPTION.format(arg.decode(errors="replace")))
        if args and self._server.version < (7,):
            raise SimpleError(msgs.WRONG_ARGS_MSG6.format("expire"))
        if nx and (xx or gt or lt):
            raise SimpleError(msgs.NX_XX_GT_LT_ERROR_MSG)
        if gt and lt:
            raise SimpleError("ERR GT and LT options at the same time are not compatible")
        when = round(timestamp * 1000)
        if not key:
            return 0
        current = self._deadline_ms(key)
        if (
            (nx and current is not None)
            or (xx and current is None)
            or (gt and (current is None or when <= current))
            or (lt and current is not None and when >= current)
        ):
            return 0
        if when <= self._now_ms():
            key.value = None  # already expired: Redis deletes the key at once
            return 1
        key.expireat = when / 1000
        return 1

    # --- strings (t_string.c) ---
    def set_(self, key: Any, value: bytes, *args: bytes) -> Any:
        try:
            return super().set_(key, value, *args)  # type: ignore[misc]
        except SimpleError as exc:
            if exc.value == msgs.INVALID_EXPIRE_MSG.format("set"):
                raise SimpleError(msgs.INVALID_EXPIRE_MSG.format("'set' command")) from exc
            raise

    def setex(self, key: Any, seconds: int, value: bytes) -> Any:
        ms = seconds * 1000 if seconds <= _MAX_MS // 1000 else _MAX_MS
        return self._set_with_ttl(key, ms, value, "setex")

    def psetex(self, key: Any, ms: int, value: bytes) -> Any:
        return self._set_with_ttl(key, ms, value, "psetex")

    def _set_with_ttl(self, key: Any, ms: int, value: bytes, command: str) -> Any:
        if ms <= 0 or self._now_ms() + ms >= _MAX_MS:
            raise SimpleError(msgs.INVALID_EXPIRE_MSG.format(f"'{command}' command"))
        key.value = value
        key.expireat = (self._now_ms() + ms) / 1000
        return OK

    def getex(self, key: Any, *args: bytes) -> Any:
        option: bytes | None = None
        amount: int | None = None
        i = 0
        while i < len(args):
            arg = args[i].lower()
            if arg in (b"ex", b"px", b"exat", b"pxat") and i + 1 < len(args) and option is None:
                option = arg
                try:
                    amount = int(args[i + 1])
                except ValueError as exc:
                    raise SimpleError(msgs.INVALID_INT_MSG) from exc
                i += 2
            elif arg == b"persist" and option is None:
                option = arg
                i += 1
            else:
                raise SimpleError(msgs.SYNTAX_ERROR_MSG)
        if not key:
            return None
        value = key.get(None)
        if option is None:
            return value
        if option == b"persist":
            if key.expireat is not None:
                key.expireat = None
            return value
        assert amount is not None
        scale = 1000 if option in (b"ex", b"exat") else 1
        if amount <= 0 or (scale == 1000 and amount > _MAX_MS // 1000):
            raise SimpleError(msgs.INVALID_EXPIRE_MSG.format("'getex' command"))
        when = amount * scale
        if option in (b"ex", b"px"):
            when += self._now_ms()
        elif when <= self._now_ms():
            key.value = None  # EXAT/PXAT in the past: the key is deleted, its value returned
            return value
        if when >= _MAX_MS:
            raise SimpleError(msgs.INVALID_EXPIRE_MSG.format("'getex' command"))
        key.expireat = when / 1000
        return value

    # --- hash-field TTLs (t_hash.c httlGenericCommand: seconds round up) ---
    def httl(self, key: Any, *args: bytes) -> list[int]:
        deadlines = self._get_expireat(b"HTTL", key, *args)  # type: ignore[attr-defined]
        now = self._now_ms()
        return [(d + 999 - now) // 1000 if d > 0 else d for d in deadlines]

    def hexpiretime(self, key: Any, *args: bytes) -> list[int]:
        deadlines = self._get_expireat(b"HEXPIRETIME", key, *args)  # type: ignore[attr-defined]
        return [(d + 999) // 1000 if d > 0 else d for d in deadlines]


class _MockSocket(_ClockedCommands, FakeSocket):
    pass


class _MockAsyncSocket(_ClockedCommands, AsyncFakeSocket):
    pass


class _MockSyncConnection(FakeRedisConnection):
    def _connect(self) -> Any:
        server: Any = self._server
        if not server.connected:
            raise self._connection_error_class(msgs.CONNECTION_ERROR_MSG)
        return _MockSocket(
            server,
            client_class=self._client_class,
            db=self.db,
            lua_modules=self._lua_modules,
            client_info=self._client_info,
        )


class _MockAsyncConnection(FakeAsyncRedisConnection):
    async def _connect(self) -> None:
        server: Any = self._server
        if not server.connected:
            raise self._connection_error_class(msgs.CONNECTION_ERROR_MSG)
        self._sock = _MockAsyncSocket(
            server,
            self.db,
            client_class=self._client_class,
            lua_modules=self._lua_modules,
            client_info=self._client_info,
        )
        self._reader = FakeReader(self._sock)
        self._writer = FakeWriter(self._sock)


class MockRedisClient(fakeredis.FakeAsyncRedis):
    """Drop-in for ``redis.asyncio.Redis`` backed by an in-memory :class:`MockRedisServer`.

    ``clock`` (default: the system clock) decides when keys expire; ``server`` shares a
    server between clients (its clock and version are used); ``version`` is the Redis
    version to emulate (default :data:`DEFAULT_VERSION`). Other keywords (``db``,
    ``decode_responses``...) are those of ``redis.asyncio.Redis``.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        server: MockRedisServer | None = None,
        version: Any = None,
        **kwargs: Any,
    ) -> None:
        resolved = _resolve_server("MockRedisClient", clock, server, version)
        self.server: MockRedisServer = resolved
        super().__init__(
            server=resolved,
            version=resolved.version,
            connection_class=_MockAsyncConnection,
            **kwargs,
        )

    @property
    def clock(self) -> Clock:
        """The clock of this client's server."""
        return self.server.clock


class MockRedisSyncClient(fakeredis.FakeRedis):
    """Drop-in for ``redis.Redis``; same options as :class:`MockRedisClient`."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        server: MockRedisServer | None = None,
        version: Any = None,
        **kwargs: Any,
    ) -> None:
        resolved = _resolve_server("MockRedisSyncClient", clock, server, version)
        self.server: MockRedisServer = resolved
        super().__init__(
            server=resolved,
            version=resolved.version,
            connection_class=_MockSyncConnection,
            **kwargs,
        )

    @property
    def clock(self) -> Clock:
        """The clock of this client's server."""
        return self.server.clock
