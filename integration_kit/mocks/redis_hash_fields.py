"""Hash-field expiry on the Redis mock as Redis 7.4+/8.0 does it (t_hash.c), over fakeredis.

fakeredis runs the commands; this mixin checks their arguments first, in Redis's order
and with Redis's replies (each pinned by ``tests/fidelity/redis/test_hash_field_ttl.py``
against a real Redis 8):

- deadlines: ``must be >= 0``, then the largest field deadline Redis keeps, 2^46-1 ms
  (``invalid expire time in '<command>' command``) — fakeredis accepts any 64-bit value;
- the layout ``[condition] FIELDS numfields field...``: a second condition or any other
  word where ``FIELDS`` belongs is ``Mandatory argument FIELDS ...``, and ``numfields``
  has each command's own message;
- ``HSETEX ... KEEPTTL`` keeps the fields' TTLs (fakeredis drops them), and a hash whose
  last field lapsed is gone for ``TYPE`` too.
"""

from __future__ import annotations

from typing import Any

from fakeredis._helpers import SimpleError
from fakeredis.model import Hash

HFE_MAX_MS = 2**46 - 1  # ebuckets' EB_EXPIRE_TIME_MAX: the latest deadline a field can have
_CONDITIONS = (b"nx", b"xx", b"gt", b"lt")
_ERR_FIELDS_POSITION = "Mandatory argument FIELDS is missing or not at the right position"
_ERR_NUMFIELDS_MISMATCH = "The `numfields` parameter must match the number of arguments"
_ERR_NUMFIELDS_POSITIVE = "Number of fields must be a positive integer"
_ERR_NUMFIELDS_HEXPIRE = "Parameter `numFields` should be greater than 0"
_ERR_NEGATIVE = "invalid expire time, must be >= 0"


def _word(arg: Any) -> bytes:
    return bytes(arg).lower()


def _positive_int(arg: Any) -> int | None:
    try:
        value = int(bytes(arg))
    except ValueError:
        return None
    return value if value > 0 else None


def check_deadline(command: str, amount: int, unit_ms: int, now_ms: int | None) -> int:
    """The absolute deadline in ms of ``amount`` (seconds if ``unit_ms`` is 1000), relative
    to ``now_ms`` when given; Redis's errors for a negative or too late one."""
    if amount < 0:
        raise SimpleError(_ERR_NEGATIVE)
    if unit_ms == 1000 and amount > HFE_MAX_MS // 1000:
        raise SimpleError(f"ERR invalid expire time in '{command}' command")
    when = amount * unit_ms + (now_ms or 0)
    if when > HFE_MAX_MS:
        raise SimpleError(f"ERR invalid expire time in '{command}' command")
    return when


def check_arity(command: str, args: tuple[Any, ...], minimum: int) -> None:
    """Redis's arity check: at least ``minimum`` arguments after the key (and the time)."""
    if len(args) < minimum:
        raise SimpleError(f"ERR wrong number of arguments for '{command}' command")


def check_fields(args: tuple[Any, ...], at: int, positive_error: str, *, pairs: bool = False) -> None:
    """``FIELDS numfields field...`` starting at ``args[at]``, as Redis checks it."""
    if len(args) <= at or _word(args[at]) != b"fields":
        raise SimpleError(_ERR_FIELDS_POSITION)
    count = _positive_int(args[at + 1]) if len(args) > at + 1 else None
    if count is None:
        raise SimpleError(positive_error)
    if count * (2 if pairs else 1) != len(args) - at - 2:
        raise SimpleError(_ERR_NUMFIELDS_MISMATCH)


class HashFieldCommands:
    """Mixed into the mock's socket before fakeredis's commands (see the module docstring)."""

    def _now_ms(self) -> int:  # provided by the mock's socket
        raise NotImplementedError

    # --- HEXPIRE key time [NX|XX|GT|LT] FIELDS numfields field... ---
    def _ik_hexpire(
        self, command: str, amount: int, unit_ms: int, relative: bool, args: tuple[Any, ...]
    ) -> None:
        check_arity(command, args, 3)
        check_deadline(command, amount, unit_ms, self._now_ms() if relative else None)
        at = 1 if args and _word(args[0]) in _CONDITIONS else 0
        check_fields(args, at, _ERR_NUMFIELDS_HEXPIRE)

    def hexpire(self, key: Any, seconds: int, *args: Any) -> Any:
        self._ik_hexpire("hexpire", seconds, 1000, True, args)
        return super().hexpire(key, seconds, *args)  # type: ignore[misc]

    def hpexpire(self, key: Any, ms: int, *args: Any) -> Any:
        self._ik_hexpire("hpexpire", ms, 1, True, args)
        return super().hpexpire(key, ms, *args)  # type: ignore[misc]

    def hexpireat(self, key: Any, timestamp: int, *args: Any) -> Any:
        self._ik_hexpire("hexpireat", timestamp, 1000, False, args)
        return super().hexpireat(key, timestamp, *args)  # type: ignore[misc]

    def hpexpireat(self, key: Any, ms_timestamp: int, *args: Any) -> Any:
        self._ik_hexpire("hpexpireat", ms_timestamp, 1, False, args)
        return super().hpexpireat(key, ms_timestamp, *args)  # type: ignore[misc]

    # --- HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME / HPERSIST / HGETDEL key FIELDS ... ---
    def httl(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().httl(key, *args)  # type: ignore[misc]

    def hpttl(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().hpttl(key, *args)  # type: ignore[misc]

    def hexpiretime(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().hexpiretime(key, *args)  # type: ignore[misc]

    def hpexpiretime(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().hpexpiretime(key, *args)  # type: ignore[misc]

    def hpersist(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().hpersist(key, *args)  # type: ignore[misc]

    def hgetdel(self, key: Any, *args: Any) -> Any:
        check_fields(args, 0, _ERR_NUMFIELDS_POSITIVE)
        return super().hgetdel(key, *args)  # type: ignore[misc]

    # --- HGETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST] FIELDS numfields field... ---
    def hgetex(self, key: Any, *args: Any) -> Any:
        at = 0
        if args and _word(args[0]) == b"persist":
            at = 1
        elif args and _word(args[0]) in (b"ex", b"px", b"exat", b"pxat"):
            option = _word(args[0])
            if len(args) < 2:
                raise SimpleError(_ERR_FIELDS_POSITION)
            try:
                amount = int(bytes(args[1]))
            except ValueError:
                raise SimpleError("ERR value is not an integer or out of range") from None
            unit = 1000 if option in (b"ex", b"exat") else 1
            check_deadline("hgetex", amount, unit, self._now_ms() if option in (b"ex", b"px") else None)
            at = 2
        check_fields(args, at, _ERR_NUMFIELDS_POSITIVE)
        return super().hgetex(key, *args)  # type: ignore[misc]

    # --- HSETEX key [FNX|FXX] [EX|PX|EXAT|PXAT time | KEEPTTL] FIELDS numfields field value... ---
    def hsetex(self, key: Any, *args: Any) -> Any:
        words = [_word(a) for a in args]
        at = words.index(b"fields") if b"fields" in words else len(args)
        options = words[:at]
        if options.count(b"fnx") + options.count(b"fxx") > 1:
            raise SimpleError("Only one of FXX or FNX arguments can be specified")
        keep = b"keepttl" in options
        for index, option in enumerate(options):
            if option in (b"ex", b"px", b"exat", b"pxat") and index + 1 < at:
                try:
                    amount = int(bytes(args[index + 1]))
                except ValueError:
                    break  # fakeredis words this one as Redis does
                unit = 1000 if option in (b"ex", b"exat") else 1
                check_deadline("hsetex", amount, unit, self._now_ms() if option in (b"ex", b"px") else None)
        if at < len(args) - 1:
            count = _positive_int(args[at + 1])
            if count is not None and count * 2 != len(args) - at - 2:
                raise SimpleError("ERR wrong number of arguments for 'hsetex' command")
        value = key.value if keep else None
        kept = _field_deadlines(value, args[at + 2 :: 2]) if isinstance(value, Hash) else {}
        reply = super().hsetex(key, *args)  # type: ignore[misc]
        if keep and isinstance(key.value, Hash):
            for field, deadline in kept.items():  # KEEPTTL: fakeredis's write cleared them
                if field in key.value:
                    key.value.set_key_expireat(field, deadline)
        return reply

    # --- TYPE: a hash whose every field lapsed no longer exists ---
    def type_cmd(self, key: Any) -> Any:
        value = key.value
        if isinstance(value, Hash) and len(value) == 0:
            return super().type_cmd(_Missing(key))  # type: ignore[misc]
        return super().type_cmd(key)  # type: ignore[misc]


def _field_deadlines(value: Hash, fields: tuple[Any, ...]) -> dict[bytes, int]:
    found = {}
    for field in fields:
        deadline = value.get_key_expireat(bytes(field))
        if deadline is not None:
            found[bytes(field)] = deadline
    return found


class _Missing:
    """A key item that holds nothing (what ``TYPE`` sees of a hash with no live field)."""

    def __init__(self, key: Any) -> None:
        self.key = key.key
        self.value = None

    def __bool__(self) -> bool:
        return False
