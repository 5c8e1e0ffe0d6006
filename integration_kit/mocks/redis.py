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
import copy
import math
import re
import sys
from collections import defaultdict
from fractions import Fraction
from typing import Any, NoReturn

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.clock import Clock, SystemClock
from integration_kit.mocks.fakeredis_support import SUPPORTED_FAKEREDIS, check_fakeredis, installed_version

check_fakeredis()  # before touching any fakeredis internal: a coded error, never an ImportError/TypeError

import fakeredis  # noqa: E402
import fakeredis._helpers as _fr_helpers  # noqa: E402
from fakeredis._clients._async import FakeAsyncRedisConnection  # noqa: E402
from fakeredis._clients._sync import FakeRedisConnection  # noqa: E402
from fakeredis._commands import SUPPORTED_COMMANDS  # noqa: E402
from fakeredis._core import FakeServer  # noqa: E402
from fakeredis._core._database import Database  # noqa: E402
from fakeredis._helpers import OK as _OK  # noqa: E402
from fakeredis._helpers import SimpleError  # noqa: E402
from fakeredis._socket import AsyncFakeSocket, FakeSocket  # noqa: E402

from integration_kit.mocks.redis_hash_fields import HashFieldCommands  # noqa: E402

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
_LLONG_MAX = 2**63 - 1  # Redis keeps deadlines as signed 64-bit milliseconds

# Replies the mock writes itself, in Redis 7's words (not fakeredis's, which move between releases).
_ERR_SYNTAX = "ERR syntax error"
_ERR_NOT_INT = "ERR value is not an integer or out of range"
_ERR_NX_XX_GT_LT = "ERR NX and XX, GT or LT options at the same time are not compatible"
_ERR_GT_LT = "ERR GT and LT options at the same time are not compatible"


def _err_invalid_expire(command: str) -> SimpleError:
    return SimpleError(f"ERR invalid expire time in '{command}' command")


def _err_unknown_command(command: str) -> SimpleError:
    return SimpleError(f"ERR unknown command '{command}', with args beginning with: ")


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


_EXACT_AS_FLOAT_MS = 2**50  # below this, ms / 1000 as a float converts back to the same ms exactly


class _Deadline(float):
    """A deadline too far away for float seconds to hold its milliseconds exactly.

    fakeredis compares float seconds; ``ms`` keeps what Redis stores (``PEXPIREAT k 2**63-1``
    answers ``PEXPIRETIME`` to the millisecond). Deadlines before the year 37000 are plain
    floats of whole milliseconds (the fast path: no subclass in the expiry heap).
    """

    __slots__ = ("ms",)
    ms: int

    def __new__(cls, ms: int) -> _Deadline:
        deadline = super().__new__(cls, ms / 1000)
        deadline.ms = ms
        return deadline

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Deadline, (self.ms,))

    def __copy__(self) -> _Deadline:
        return self

    def __deepcopy__(self, memo: Any) -> _Deadline:
        return self


def _deadline(ms: int) -> float:
    """The value to store as fakeredis's ``expireat`` for a deadline of ``ms``."""
    return ms / 1000 if -_EXACT_AS_FLOAT_MS < ms < _EXACT_AS_FLOAT_MS else _Deadline(ms)


def _deadline_ms(expireat: float | None) -> int | None:
    """A stored deadline in whole milliseconds (None: no TTL)."""
    if expireat is None:
        return None
    if type(expireat) is _Deadline:
        return expireat.ms
    return round(expireat * 1000)


class _MsDatabase(Database):
    """A fakeredis database whose deadlines are whole milliseconds, like Redis's.

    Every deadline fakeredis stores passes :meth:`schedule_expiry` (its write-back seam),
    where it is cut to whole milliseconds; the arguments are forwarded unchanged.
    """

    def __init__(self, lock: Any, clock: Clock) -> None:
        super().__init__(lock)
        self.time = clock.time_ms() / 1000

    def schedule_expiry(self, key: bytes, expireat: float | None, *args: Any, **kwargs: Any) -> None:
        if expireat is not None and type(expireat) is not _Deadline:
            exact = _deadline(round(expireat * 1000))
            if exact != expireat or type(exact) is not type(expireat):
                expireat = exact
                item = self._dict.get(key)
                if item is not None and item.expireat is not None:
                    item.expireat = expireat
        super().schedule_expiry(key, expireat, *args, **kwargs)


class MockRedisServer(FakeServer):
    """The in-memory server behind mock clients; share one to let clients see the same data.

    ``clock`` defaults to the system clock; ``version`` (default :data:`DEFAULT_VERSION`)
    decides which commands exist.
    """

    def __init__(self, *, clock: Clock | None = None, version: Any = DEFAULT_VERSION) -> None:
        check_fakeredis()
        parsed = parse_version(version)
        _install_time_hook()  # fakeredis modules imported since this module was
        super().__init__(version=parsed, server_type="redis")
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.dbs = defaultdict(lambda: _MsDatabase(self.lock, self.clock))
        _self_test()

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


def _int(value: Any) -> int:
    """An integer argument, whether fakeredis parsed it already or passed the bytes."""
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise SimpleError(_ERR_NOT_INT) from exc


# Commands the mock refuses (IK-MOCK-REDIS-UNSUPPORTED) rather than answer differently from Redis.
_UNSUPPORTED_COMMANDS: dict[str, str] = {
    "object": "OBJECT (encodings, LRU idle times and LFU counters are Redis internals the mock lacks)",
}
_SCRIPTING_COMMANDS = frozenset(
    ("eval", "evalsha", "eval_ro", "evalsha_ro", "script", "fcall", "fcall_ro", "function")
)
_SPECIAL_NAMES = frozenset(("touch", "object"))
_touch: list[Any] = []
_LUA_COMPILE_ERROR = re.compile(
    r"ERR Error running script \(call to f_[0-9a-f]+\): @user_script:\?: error loading code: "
    r'\[string "<python>"\]:(\d+): (.*)',
    re.DOTALL,
)


def _touch_signature() -> Any:
    """TOUCH has EXISTS's arguments and reply (the mock keeps no access times): its signature, renamed."""
    if not _touch:
        sig = copy.copy(SUPPORTED_COMMANDS["exists"])
        sig.name = "touch"
        _touch.append(sig)
    return _touch[0]


def _count_is_zero(args: tuple[Any, ...]) -> bool:
    """XRANGE/XREVRANGE ``start end COUNT n`` with n <= 0."""
    if len(args) != 4 or bytes(args[2]).lower() != b"count":
        return False
    try:
        return int(bytes(args[3])) <= 0
    except ValueError:
        return False


_LONG_DOUBLE_BITS = 64  # x87 extended precision: Redis's long double on x86-64


def _to_long_double(value: Fraction) -> Fraction:
    """``value`` rounded to the nearest long double (64-bit significand, ties to even)."""
    if value == 0:
        return Fraction(0)
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    exponent = magnitude.numerator.bit_length() - magnitude.denominator.bit_length()
    if Fraction(2) ** exponent > magnitude:
        exponent -= 1
    scale = Fraction(2) ** (_LONG_DOUBLE_BITS - 1 - exponent)
    significand = round(magnitude * scale)  # round() on a Fraction rounds half to even
    return sign * Fraction(significand) / scale


def _is_infinite(text: bytes) -> bool:
    return text.lower().lstrip(b"+-") in (b"inf", b"infinity")


def _parse_long_double(text: bytes) -> Fraction | None:
    """strtold as Redis uses it (string2ld): a finite number, the whole string, no spaces."""
    try:
        raw = text.decode("ascii")
        if not raw or raw != raw.strip() or raw.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return None
        return _to_long_double(Fraction(raw))
    except (UnicodeDecodeError, ValueError, ZeroDivisionError):
        return None


def _format_long_double(value: Fraction) -> bytes:
    """``%.17Lf`` with trailing zeros (and a lone point) removed, ``-0`` as ``0`` (LD_STR_HUMAN)."""
    scaled = round(abs(value) * 10**17)
    whole, frac = divmod(scaled, 10**17)
    text = f"{whole}.{frac:017d}".rstrip("0").rstrip(".")
    if value < 0 and text != "0":
        text = "-" + text
    return text.encode()


def _is_float(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _refuse_long_double(amount: Any, command: str) -> None:
    """An increment beyond the double range: fakeredis parses it as a double before the mock sees it."""
    try:
        number = float(amount)
    except (TypeError, ValueError):
        return
    if math.isinf(number) and not bytes(amount).strip().lower().lstrip(b"+-").startswith(b"inf"):
        raise MockError(
            ErrorCode.MOCK_REDIS_UNSUPPORTED,
            feature=f"{command} beyond the double range (Redis computes in long double)",
        )


class _ClockedCommands(HashFieldCommands):
    """Command overrides shared by the sync and async mock sockets (mixed in before FakeSocket).

    Two kinds of seams, both robust to fakeredis's private signatures: thin adapters
    (``_run_command``, ``_name_to_func``) that take and forward whatever fakeredis passes,
    and command methods under their Redis names (fakeredis dispatches ``SET`` to ``set_``,
    ``EXPIRE`` to ``expire`` ...), which take the parsed arguments of the Redis command.
    No private helper of fakeredis (``_expireat``, ``_ttl`` ...) is overridden.
    """

    _server: Any  # a MockRedisServer (typed loosely to match fakeredis's sockets)
    _db: Any

    # --- time: one reading per command, in whole milliseconds ---
    def _run_command(self, *args: Any, **kwargs: Any) -> Any:
        # Commands inside EXEC or a script keep the time of the outer command, as in Redis.
        outer = _COMMAND_TIME_MS.get()
        now_ms = self._server.clock.time_ms() if outer is None else outer
        now = now_ms / 1000
        for db in self._server.dbs.values():
            db.time = now
        token = _COMMAND_TIME_MS.set(now_ms)
        try:
            return super()._run_command(*args, **kwargs)  # type: ignore[misc]
        finally:
            _COMMAND_TIME_MS.reset(token)

    def _process_command(self, fields: Any, *args: Any, **kwargs: Any) -> Any:
        self._ik_fields = fields  # the command as sent, for Redis's exact unknown-command reply
        if len(fields) == 3 and len(fields[0]) in (11, 12):  # cheap pre-check: (H)INCRBYFLOAT
            name = bytes(fields[0]).lower()
            if name in (b"incrbyfloat", b"hincrbyfloat"):
                _refuse_long_double(fields[-1], name.decode().upper())
        return super()._process_command(fields, *args, **kwargs)  # type: ignore[misc]

    def _name_to_func(self, cmd_name: str, *args: Any, **kwargs: Any) -> Any:
        if cmd_name in _SPECIAL_NAMES or " " in cmd_name:
            special = self._ik_special_command(cmd_name)
            if special is not None:
                return special
        needed = _MIN_VERSION.get(cmd_name)
        if needed is not None and self._server.version < needed:
            raise self._ik_unknown_command(cmd_name)
        try:
            return super()._name_to_func(cmd_name, *args, **kwargs)  # type: ignore[misc]
        except SimpleError as exc:
            if cmd_name.split(" ", 1)[0] in _SCRIPTING_COMMANDS:
                raise MockError(
                    ErrorCode.MOCK_REDIS_UNSUPPORTED,
                    feature=f"Lua scripting ({cmd_name.upper()}) without the lupa package (pip install lupa)",
                ) from exc
            raise self._ik_unknown_command(cmd_name) from exc

    def _ik_special_command(self, cmd_name: str) -> Any:
        """Commands the mock answers itself (TOUCH) or refuses (OBJECT); None for the others."""
        word = cmd_name.split(" ", 1)[0]
        refusal = _UNSUPPORTED_COMMANDS.get(word)
        if refusal is not None:
            raise MockError(ErrorCode.MOCK_REDIS_UNSUPPORTED, feature=refusal)
        if cmd_name == "touch":
            return self.exists, _touch_signature()  # type: ignore[attr-defined]
        return None

    def _decode_error(self, error: Any, *args: Any, **kwargs: Any) -> Any:
        """Where fakeredis words an error reply unlike Redis 7, reword it (from the command as sent)."""
        if isinstance(getattr(error, "value", None), str):
            error.value = self._ik_redis_error(error.value)
        return super()._decode_error(error, *args, **kwargs)  # type: ignore[misc]

    def _ik_redis_error(self, message: str) -> str:
        fields = getattr(self, "_ik_fields", None) or []
        if not fields:
            return message
        command = bytes(fields[0]).decode(errors="replace").lower()
        if message == "ERR Wrong number of args calling Redis command from script":
            # fakeredis's arity message for Redis 7 outside scripts
            if command in ("scan", "hscan", "sscan", "zscan"):
                return _ERR_SYNTAX
            return f"ERR wrong number of arguments for '{command}' command"
        args = [bytes(field) for field in fields[1:]]
        if command == "select" and message == "ERR DB index is out of range" and args:
            return message if args[0].lstrip(b"-").isdigit() else _ERR_NOT_INT
        overflow = "ERR increment or decrement would overflow"
        if command == "decrby" and message == overflow and args[1:2] == [b"-9223372036854775808"]:
            return "ERR decrement would overflow"
        if command in ("scan", "hscan", "sscan", "zscan") and message == _ERR_NOT_INT:
            cursor = fields[1] if command == "scan" else (fields[2] if len(fields) > 2 else b"0")
            if len(fields) > 1 and not bytes(cursor).isdigit():
                return "ERR invalid cursor"
        if message == "ERR min or max not a valid string range item":
            return "ERR min or max not valid string range item"
        match = re.fullmatch(r"ERR at least 1 input key is needed for (\w+)", message)
        if match:
            return f"ERR at least 1 input key is needed for '{match.group(1)}' command"
        match = _LUA_COMPILE_ERROR.fullmatch(message)
        if match:
            line, cause = match.groups()
            return f"ERR Error compiling script (new function): user_script:{line}: {cause}"
        if command in ("expire", "pexpire", "expireat", "pexpireat") and message == _ERR_NOT_INT:
            # expire.c parses the options before the number
            try:
                self._ik_expire(command, None, 0, 1, False, tuple(fields[3:]))
            except SimpleError as exc:
                return exc.value
        return message

    def _ik_unknown_command(self, cmd_name: str) -> SimpleError:
        """server.c processCommand: the name as sent, and up to 128 bytes of its arguments."""
        fields = getattr(self, "_ik_fields", None) or []
        if not fields or bytes(fields[0]).lower() != cmd_name.split(" ", 1)[0].encode():
            return _err_unknown_command(cmd_name)
        shown = ""
        for field in fields[1:]:
            if len(shown) >= 128:
                break
            shown += "'" + bytes(field).decode(errors="replace")[: 128 - len(shown)] + "' "
        name = bytes(fields[0]).decode(errors="replace")[:128]
        return SimpleError(f"ERR unknown command '{name}', with args beginning with: {shown}")

    # --- keyspace notifications: off, as on a Redis with the default notify-keyspace-events "" ---
    def _keyspace_notifications(self, *args: Any, **kwargs: Any) -> None:
        return None

    def config_set(self, *args: Any) -> Any:
        # The mock emulates no server configuration: changing one would silently change nothing
        # (or, for notify-keyspace-events, publish events the mock does not produce).
        names = ", ".join(bytes(name).decode(errors="replace") for name in args[::2])
        raise MockError(ErrorCode.MOCK_REDIS_UNSUPPORTED, feature=f"CONFIG SET ({names or 'no parameter'})")

    # --- WATCH: a watched key that expires before EXEC aborts it (multi.c isWatchedKeyExpired) ---
    def watch(self, *keys: Any) -> Any:
        result = super().watch(*keys)  # type: ignore[misc]
        watched: dict[tuple[int, bytes], Any] = self.__dict__.setdefault("_ik_watched", {})
        for key in keys:
            if key:  # alive now; a key already expired at WATCH time is not counted (Redis 7)
                watched.setdefault((id(self._db), key.key), (self._db, key.key))
        return result

    def _ik_watched_key_expired(self) -> bool:
        now = self._now_ms()
        for db, name in self.__dict__.get("_ik_watched", {}).values():
            item = db._dict.get(name)
            deadline = None if item is None else _deadline_ms(item.expireat)
            if deadline is not None and deadline < now:
                return True
        return False

    def exec_(self, *args: Any) -> Any:
        if self._ik_watched_key_expired():
            self.notify_watch()  # type: ignore[attr-defined]  # fakeredis's own "a watched key changed": EXEC answers nil
        self.__dict__.pop("_ik_watched", None)
        return super().exec_(*args)  # type: ignore[misc]

    def discard(self, *args: Any) -> Any:
        result = super().discard(*args)  # type: ignore[misc]
        self.__dict__.pop("_ik_watched", None)
        return result

    def unwatch(self, *args: Any) -> Any:
        self.__dict__.pop("_ik_watched", None)
        return super().unwatch(*args)  # type: ignore[misc]

    # --- RESTORE options (cluster.c restoreCommand) ---
    def restore(self, key: Any, ttl: Any, value: bytes, *args: bytes) -> Any:
        ttl = _int(ttl)
        absttl = False
        passed: list[bytes] = []
        i = 0
        while i < len(args):
            flag = bytes(args[i]).lower()
            if flag == b"replace":
                passed.append(args[i])
            elif flag == b"absttl":
                absttl = True
            elif flag in (b"idletime", b"freq") and i + 1 < len(args):
                raise MockError(
                    ErrorCode.MOCK_REDIS_UNSUPPORTED,
                    feature=f"RESTORE ... {flag.decode().upper()} (the mock keeps no LRU/LFU data)",
                )
            else:
                raise SimpleError(_ERR_SYNTAX)
            i += 1
        if not absttl or ttl <= 0:
            return super().restore(key, ttl, value, *passed)  # type: ignore[misc]
        result = super().restore(key, 0, value, *passed)  # type: ignore[misc]
        if ttl <= self._now_ms():
            key.value = None  # already expired: OK, and no key (or the replaced one is gone)
        else:
            key.expireat = _deadline(ttl)
        return result

    # --- SCAN options (db.c scanGenericCommand) ---
    def scan(self, cursor: Any, *args: bytes) -> Any:
        for i in range(0, len(args), 2):
            option = bytes(args[i]).lower()
            if option not in (b"match", b"count", b"type") or i + 1 >= len(args):
                raise SimpleError(_ERR_SYNTAX)
            if option == b"count" and _int(args[i + 1]) < 1:
                raise SimpleError(_ERR_SYNTAX)
        return super().scan(cursor, *args)  # type: ignore[misc]

    # --- INCRBYFLOAT in long double, stored as Redis prints it (t_string.c, util.c ld2string) ---
    def incrbyfloat(self, key: Any, amount: Any, *args: Any) -> Any:
        fields = getattr(self, "_ik_fields", None) or []
        if len(fields) != 3 or bytes(fields[0]).lower() != b"incrbyfloat":
            return super().incrbyfloat(key, amount, *args)  # type: ignore[misc]
        current = key.get(None)
        if current is not None and not isinstance(current, bytes):
            raise SimpleError("WRONGTYPE Operation against a key holding the wrong kind of value")
        base = _parse_long_double(b"0" if current is None else current)
        increment = _parse_long_double(bytes(fields[2]))
        if base is None or increment is None:
            if base is not None and _is_infinite(bytes(fields[2])):
                raise SimpleError("ERR increment would produce NaN or Infinity")
            raise SimpleError("ERR value is not a valid float")
        text = _format_long_double(_to_long_double(base + increment))
        if key:
            key.update(text)  # the TTL stays
        else:
            key.value = text
        return text

    # --- floats (t_hash.c hincrbyfloatCommand) ---
    def hincrbyfloat(self, key: Any, field: bytes, amount: Any, *args: Any) -> Any:
        try:
            return super().hincrbyfloat(key, field, amount, *args)  # type: ignore[misc]
        except SimpleError as exc:
            if exc.value == "ERR value is not a valid float" and _is_float(amount):
                raise SimpleError("ERR hash value is not a float") from exc
            raise

    # --- sorted sets ---
    def zrandmember(self, key: Any, *args: Any) -> Any:
        result = super().zrandmember(key, *args)  # type: ignore[misc]
        if not args:  # without a count: one member, or nil (t_zset.c zrandmemberCommand)
            return result[0] if result else None
        return result

    def zrank(self, key: Any, member: bytes, *args: Any) -> Any:
        self._ik_withscore_needs_72("zrank", args)
        return super().zrank(key, member, *args)  # type: ignore[misc]

    def zrevrank(self, key: Any, member: bytes, *args: Any) -> Any:
        self._ik_withscore_needs_72("zrevrank", args)
        return super().zrevrank(key, member, *args)  # type: ignore[misc]

    def _ik_withscore_needs_72(self, command: str, args: tuple[Any, ...]) -> None:
        if args and self._server.version < (7, 2):
            raise SimpleError(f"ERR wrong number of arguments for '{command}' command")

    # --- streams: COUNT 0 answers a null array (t_stream.c xrangeGenericCommand) ---
    def xrange(self, key: Any, *args: Any) -> Any:
        return None if _count_is_zero(args) else super().xrange(key, *args)  # type: ignore[misc]

    def xrevrange(self, key: Any, *args: Any) -> Any:
        return None if _count_is_zero(args) else super().xrevrange(key, *args)  # type: ignore[misc]

    # --- lex ranges are defined only when all scores are equal (t_zset.c) ---
    def _ik_require_one_score(self, key: Any, command: str) -> None:
        zset = key.value
        if zset and len({score for _, score in zset.items()}) > 1:
            raise MockError(
                ErrorCode.MOCK_REDIS_UNSUPPORTED,
                feature=f"{command} on a sorted set whose members have different scores "
                "(Redis leaves the result unspecified)",
            )

    def zlexcount(self, key: Any, *args: Any) -> Any:
        self._ik_require_one_score(key, "ZLEXCOUNT")
        return super().zlexcount(key, *args)  # type: ignore[misc]

    def zrangebylex(self, key: Any, *args: Any) -> Any:
        self._ik_require_one_score(key, "ZRANGEBYLEX")
        return super().zrangebylex(key, *args)  # type: ignore[misc]

    def zrevrangebylex(self, key: Any, *args: Any) -> Any:
        self._ik_require_one_score(key, "ZREVRANGEBYLEX")
        return super().zrevrangebylex(key, *args)  # type: ignore[misc]

    def zremrangebylex(self, key: Any, *args: Any) -> Any:
        self._ik_require_one_score(key, "ZREMRANGEBYLEX")
        return super().zremrangebylex(key, *args)  # type: ignore[misc]

    def zrange(self, key: Any, *args: Any) -> Any:
        if any(isinstance(arg, bytes) and arg.lower() == b"bylex" for arg in args):
            self._ik_require_one_score(key, "ZRANGE ... BYLEX")
        return super().zrange(key, *args)  # type: ignore[misc]

    def _now_ms(self) -> int:
        now = _COMMAND_TIME_MS.get()
        return round(self._db.time * 1000) if now is None else now

    def time(self, *_: Any) -> list[bytes]:
        now_us = self._server.clock.time_ms() * 1000  # TIME reads the clock, not the command's snapshot
        return [str(now_us // 1_000_000).encode(), str(now_us % 1_000_000).encode()]

    # --- key TTLs (db.c ttlGenericCommand) ---
    def _ik_ttl(self, key: Any, in_ms: bool) -> int:
        if not key:
            return -2
        deadline = _deadline_ms(key.expireat)
        if deadline is None:
            return -1
        ms = max(0, deadline - self._now_ms())
        return ms if in_ms else (ms + 500) // 1000

    def ttl(self, key: Any, *_: Any) -> int:
        return self._ik_ttl(key, in_ms=False)

    def pttl(self, key: Any, *_: Any) -> int:
        return self._ik_ttl(key, in_ms=True)

    def expiretime(self, key: Any, *_: Any) -> int:
        if not key:
            return -2
        deadline = _deadline_ms(key.expireat)
        return -1 if deadline is None else (deadline + 500) // 1000

    def pexpiretime(self, key: Any, *_: Any) -> int:
        if not key:
            return -2
        deadline = _deadline_ms(key.expireat)
        return -1 if deadline is None else deadline

    # --- EXPIRE family (expire.c expireGenericCommand) ---
    def expire(self, key: Any, seconds: Any, *options: bytes) -> int:
        return self._ik_expire("expire", key, _int(seconds), 1000, True, options)

    def pexpire(self, key: Any, ms: Any, *options: bytes) -> int:
        return self._ik_expire("pexpire", key, _int(ms), 1, True, options)

    def expireat(self, key: Any, timestamp: Any, *options: bytes) -> int:
        return self._ik_expire("expireat", key, _int(timestamp), 1000, False, options)

    def pexpireat(self, key: Any, ms_timestamp: Any, *options: bytes) -> int:
        return self._ik_expire("pexpireat", key, _int(ms_timestamp), 1, False, options)

    def _ik_expire(
        self, command: str, key: Any, when: int, unit_ms: int, relative: bool, options: tuple[bytes, ...]
    ) -> int:
        nx = xx = gt = lt = False
        for arg in options:
            flag = bytes(arg).lower()
            if flag == b"nx":
                nx = True
            elif flag == b"xx":
                xx = True
            elif flag == b"gt":
                gt = True
            elif flag == b"lt":
                lt = True
            else:
                raise SimpleError(f"ERR Unsupported option {bytes(arg).decode(errors='replace')}")
        if options and self._server.version < (7,):
            raise SimpleError(f"ERR wrong number of arguments for '{command}' command")
        if nx and (xx or gt or lt):
            raise SimpleError(_ERR_NX_XX_GT_LT)
        if gt and lt:
            raise SimpleError(_ERR_GT_LT)
        # Overflow checks come before the key is looked at; only the upper side is checked.
        if unit_ms == 1000 and abs(when) > _LLONG_MAX // 1000:
            raise _err_invalid_expire(command)
        when *= unit_ms
        basetime = self._now_ms() if relative else 0
        if when > _LLONG_MAX - basetime:
            raise _err_invalid_expire(command)
        when += basetime
        if not key:
            return 0
        current = _deadline_ms(key.expireat)
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
        key.expireat = _deadline(when)
        return 1

    # --- strings (t_string.c) ---
    def set_(self, key: Any, *args: Any) -> Any:
        before = key.expireat
        try:
            result = super().set_(key, *args)  # type: ignore[misc]
        except SimpleError as exc:
            if exc.value.startswith("ERR invalid expire time in"):
                raise _err_invalid_expire("set") from exc
            raise
        if key.expireat is not before and key.expireat is not None:
            exact = self._absolute_deadline(args[1:])
            if exact is not None:
                key.expireat = _deadline(exact)
        return result

    @staticmethod
    def _absolute_deadline(options: tuple[Any, ...]) -> int | None:
        """The ms deadline of a SET's EXAT/PXAT option (the last one given), else None."""
        deadline = None
        for i, arg in enumerate(options[:-1]):
            flag = bytes(arg).lower()
            if flag == b"pxat":
                deadline = _int(options[i + 1])
            elif flag == b"exat":
                deadline = _int(options[i + 1]) * 1000
        return deadline

    def setex(self, key: Any, seconds: Any, value: bytes, *_: Any) -> Any:
        seconds = _int(seconds)
        if seconds <= 0 or seconds > _LLONG_MAX // 1000:
            raise _err_invalid_expire("setex")
        return self._set_with_ttl(key, seconds * 1000, value, "setex")

    def psetex(self, key: Any, ms: Any, value: bytes, *_: Any) -> Any:
        ms = _int(ms)
        if ms <= 0:
            raise _err_invalid_expire("psetex")
        return self._set_with_ttl(key, ms, value, "psetex")

    def _set_with_ttl(self, key: Any, ms: int, value: bytes, command: str) -> Any:
        when = self._now_ms() + ms
        if when > _LLONG_MAX:
            raise _err_invalid_expire(command)
        key.value = value
        key.expireat = _deadline(when)
        return _OK

    def getex(self, key: Any, *args: bytes) -> Any:
        # t_string.c parseExtendedStringArgumentsOrReply(COMMAND_GET): an option may repeat
        # (the last one wins) but not mix with another; PERSIST mixes with none.
        option: bytes | None = None
        amount: bytes | None = None
        i = 0
        while i < len(args):
            arg = bytes(args[i]).lower()
            has_next = i + 1 < len(args)
            if arg in (b"ex", b"px", b"exat", b"pxat") and has_next and option in (None, arg):
                option, amount = arg, args[i + 1]
                i += 2
            elif arg == b"persist" and option in (None, arg):
                option = arg
                i += 1
            else:
                raise SimpleError(_ERR_SYNTAX)
        if not key:
            return None
        value = key.get(None)
        if value is not None and not isinstance(value, bytes):
            raise SimpleError("WRONGTYPE Operation against a key holding the wrong kind of value")
        if option is None:
            return value
        if option == b"persist":
            if key.expireat is not None:
                key.expireat = None
            return value
        assert amount is not None
        when = _int(amount)
        seconds = option in (b"ex", b"exat")
        if when <= 0 or (seconds and when > _LLONG_MAX // 1000):
            raise _err_invalid_expire("getex")
        if seconds:
            when *= 1000
        if option in (b"ex", b"px"):
            when += self._now_ms()
            if when > _LLONG_MAX:
                raise _err_invalid_expire("getex")
        elif when <= self._now_ms():
            key.value = None  # EXAT/PXAT in the past: the key is deleted, its value returned
            return value
        key.expireat = _deadline(when)
        return value

    # --- hash-field TTLs (t_hash.c httlGenericCommand: seconds round up) ---
    # fakeredis's HPTTL/HPEXPIRETIME are exact (integer ms on the mock's clock); the
    # second-resolution replies are derived from them. The fakeredis command runs first
    # so that argument errors name the command the client sent.
    def httl(self, key: Any, *args: Any) -> list[int]:
        super().httl(key, *args)  # type: ignore[misc]
        remaining = super().hpttl(key, *args)  # type: ignore[misc]
        return [(ms + 999) // 1000 if ms >= 0 else ms for ms in remaining]

    def hexpiretime(self, key: Any, *args: Any) -> list[int]:
        super().hexpiretime(key, *args)  # type: ignore[misc]
        deadlines = super().hpexpiretime(key, *args)  # type: ignore[misc]
        return [(ms + 999) // 1000 if ms > 0 else ms for ms in deadlines]


class _MockSocket(_ClockedCommands, FakeSocket):
    pass


class _MockAsyncSocket(_ClockedCommands, AsyncFakeSocket):
    pass


def _adopt(sock: Any, base: type, mock: type) -> Any:
    """Turn the socket fakeredis built into the mock's subclass of it (constructor untouched)."""
    if type(sock) is not base:
        _refuse(f"its connections build {type(sock).__name__}, not {base.__name__}")
    sock.__class__ = mock
    return sock


class _MockSyncConnection(FakeRedisConnection):
    def _connect(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(super()._connect(*args, **kwargs), FakeSocket, _MockSocket)


class _MockAsyncConnection(FakeAsyncRedisConnection):
    async def _connect(self, *args: Any, **kwargs: Any) -> None:
        await super()._connect(*args, **kwargs)
        _adopt(self._sock, AsyncFakeSocket, _MockAsyncSocket)


_self_tested = False
_self_test_failure: str | None = None


def _self_test() -> None:
    """Run each overridden command once on a private server (first construction only).

    A fakeredis that changed a seam in a way the probes cannot see (an argument type, a
    return shape) fails here with ``IK-MOCK-FAKEREDIS-UNSUPPORTED``, not in a user's test;
    the failure is remembered, so every later construction fails the same way.
    """
    global _self_tested, _self_test_failure
    if _self_tested:
        if _self_test_failure is not None:
            _refuse(_self_test_failure)
        return
    _self_tested = True
    from integration_kit.mocks.clock import VirtualClock

    t0 = 1_700_000_000_000
    clock = VirtualClock(start=t0 / 1000)
    client = MockRedisSyncClient(clock=clock, version=(7, 4))
    checks: list[tuple[str, Any, Any]] = []

    def check(what: str, got: Any, expected: Any) -> None:
        checks.append((what, got, expected))

    try:
        client.set("a", "v", px=1500)
        check("PTTL after SET PX", client.pttl("a"), 1500)
        check("TTL rounds half up", client.ttl("a"), 2)
        client.execute_command("PSETEX", "b", 1001, "v")
        check("PSETEX deadline", client.pexpiretime("b"), t0 + 1001)
        client.execute_command("SETEX", "c", 10, "v")
        check("GETEX PX", (client.getex("c", px=250), client.pttl("c")), (b"v", 250))
        check("EXPIRE GT", client.expire("a", 100, gt=True), True)
        check("PEXPIREAT", client.pexpireat("a", t0 + 5500), True)
        check("PEXPIRETIME", client.pexpiretime("a"), t0 + 5500)
        check("EXPIRETIME rounds half up", client.expiretime("a"), t0 // 1000 + 6)
        check("EXPIREAT", client.expireat("b", t0 // 1000 + 9), True)
        check("PEXPIRE", client.pexpire("b", 700), True)
        check("TIME", client.time(), (t0 // 1000, 0))
        client.hset("h", "f", "v")
        check("HPEXPIRE", client.hpexpire("h", 1500, "f"), [1])
        check("HTTL rounds up", client.httl("h", "f"), [2])
        check("HEXPIRETIME rounds up", client.hexpiretime("h", "f"), [(t0 + 1500 + 999) // 1000])
        with client.pipeline(transaction=True) as pipe:
            pipe.set("m", "v", px=100)
            pipe.pttl("m")
            check("MULTI/EXEC", pipe.execute(), [True, 100])
        clock.advance(0.251)
        check("expiry on the clock", client.get("c"), None)
    except Exception as exc:
        checks.append(("commands run", f"{type(exc).__name__}: {exc}", "no error"))
    finally:
        client.close()
    failed = [f"{what}: got {got!r}, expected {want!r}" for what, got, want in checks if got != want]
    if failed:
        _self_test_failure = f"self-test failed ({'; '.join(failed)})"
        _refuse(_self_test_failure)


def _refuse(cause: str) -> NoReturn:
    raise MockError(
        ErrorCode.MOCK_FAKEREDIS_UNSUPPORTED,
        supported=SUPPORTED_FAKEREDIS,
        found=installed_version(),
        cause=cause,
    )


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
