"""``RedisFactory``: factory_boy declarations written as Redis keys, with TTLs, in one pipeline.

::

    class SessionFactory(RedisFactory):
        class Meta:
            key = "session:{token}"   # formatted with the record's fields, or a callable(record)
            type = "hash"             # "string", "hash", "set", "zset" or "stream"
            ttl = 3600                # seconds (int, float, timedelta) or None

        token = factory.Sequence(lambda n: f"t{n:06d}")
        user = factory.Faker("user_name")

    written = await SessionFactory.create_batch(100)   # one round trip

What is written per type (``Meta.value`` names the field holding the value; without
it the whole record is used where that makes sense):

- ``string``: ``SET key value`` with the field's value, or the record as JSON;
- ``hash``: ``HSET key`` with the field's mapping, or the record's fields;
- ``set``: ``SADD key`` with the members in the ``value`` field (required);
- ``zset``: ``ZADD key`` with the ``{member: score}`` mapping in the ``value`` field (required);
- ``stream``: ``XADD key *`` with the field's mapping, or the record's fields.

Records sharing a key add to it (set members, hash fields, stream entries). Keys go
through the store's scope: a :class:`~integration_kit.redis.kit.RedisKit` prefixes
them in ``prefix`` isolation and is on the worker's database in ``db`` isolation.
Values Redis cannot hold (``None``, nested objects in a hash) are ``IK-SEED-INVALID``.
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integration_kit.seeding import context
from integration_kit.seeding.base import OptionDefault, SeedFactory, SeedOptions, invalid_option
from integration_kit.seeding.kafka import encode_json
from integration_kit.seeding.validation import invalid

TYPES = ("string", "hash", "set", "zset", "stream")
_SCALARS = (str, bytes, int, float)


@dataclass(frozen=True)
class RedisEntry:
    """One record as written: its full key (scope prefix included), type, TTL and record."""

    key: str
    type: str
    ttl: float | None
    record: dict[str, Any]


class RedisOptions(SeedOptions):
    key: str | Callable[[dict[str, Any]], str]
    type: str
    ttl: float | datetime.timedelta | None
    value: str | None

    def _build_default_options(self) -> list[OptionDefault]:
        return [
            *super()._build_default_options(),
            OptionDefault("key", None, inherit=True),
            OptionDefault("type", "string", inherit=True),
            OptionDefault("ttl", None, inherit=True),
            OptionDefault("value", None, inherit=True),
        ]

    def validate_options(self, owner: str) -> None:
        key = self.key
        if callable(key):
            pass
        elif not isinstance(key, str) or not key:
            raise invalid_option(
                owner, "key", key, "a key pattern such as 'session:{id}' or a callable(record)"
            )
        else:
            try:
                list(string.Formatter().parse(key))
            except ValueError as exc:
                raise invalid_option(owner, "key", key, f"a valid format pattern ({exc})") from exc
        if self.type not in TYPES:
            raise invalid_option(owner, "type", self.type, " or ".join(map(repr, TYPES)))
        ttl = self.ttl
        seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl
        if ttl is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0
        ):
            raise invalid_option(owner, "ttl", ttl, "seconds > 0 (int, float or timedelta) or None")
        if self.type in ("set", "zset") and not self.value:
            raise invalid_option(owner, "value", self.value, f"the field holding the {self.type}'s members")
        if self.value is not None and not isinstance(self.value, str):
            raise invalid_option(owner, "value", self.value, "a field name")

    @property
    def ttl_ms(self) -> int | None:
        ttl = self.ttl
        if ttl is None:
            return None
        seconds = ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else float(ttl)
        return max(1, round(seconds * 1000))


class RedisFactory(SeedFactory):
    """Records written as Redis keys; see the module docstring."""

    _options_class = RedisOptions

    class Meta:
        model = dict
        abstract = True

    @classmethod
    def key_of(cls, record: Mapping[str, Any]) -> str:
        """The key of ``record`` within the scope (before any prefix)."""
        meta: RedisOptions = cls._meta  # type: ignore[assignment]
        if callable(meta.key):
            return str(meta.key(dict(record)))
        try:
            return meta.key.format_map(record)
        except (KeyError, IndexError, AttributeError, ValueError) as exc:
            raise invalid(
                cls.__name__, str(exc).strip("'"), f"Meta.key {meta.key!r} cannot be filled", "Meta.key"
            ) from exc

    @classmethod
    async def create(cls, **kwargs: Any) -> RedisEntry:  # type: ignore[override]
        """Build one record and write it; return what was written."""
        (entry,) = await cls.create_batch(1, **kwargs)
        return entry

    @classmethod
    async def create_batch(cls, size: int, **kwargs: Any) -> list[RedisEntry]:  # type: ignore[override]
        """Build ``size`` records (all validated first) and write them in one pipeline."""
        store = context.require(cls.__name__, "redis")
        if hasattr(store, "pipeline"):  # a redis.asyncio.Redis: keys as named
            client, key_in_scope = store, str
        else:  # a RedisKit: its client, keys in its scope
            client, key_in_scope = store.client, store.key
        records = cls.build_batch(size, **kwargs)
        meta: RedisOptions = cls._meta  # type: ignore[assignment]
        ttl_ms = meta.ttl_ms
        entries: list[RedisEntry] = []
        commands: list[tuple[Any, ...]] = []
        keys: dict[str, None] = {}
        for record in records:
            key = key_in_scope(cls.key_of(record))
            commands.append(cls._command(key, record))
            keys[key] = None
            entries.append(
                RedisEntry(
                    key=key, type=meta.type, ttl=None if ttl_ms is None else ttl_ms / 1000, record=record
                )
            )
        if ttl_ms is not None:
            commands.extend(("PEXPIRE", key, ttl_ms) for key in keys)
        async with client.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            await pipe.execute()
        active = context.current()
        if active is not None:
            active.report("redis", len(entries))
        return entries

    @classmethod
    def _command(cls, key: str, record: dict[str, Any]) -> tuple[Any, ...]:
        meta: RedisOptions = cls._meta  # type: ignore[assignment]
        name = cls.__name__
        field = meta.value
        if field is not None and field not in record:
            raise invalid(name, field, "Meta.value names a field the record does not have", "Meta.value")
        value = record[field] if field is not None else record
        if meta.type == "string":
            if isinstance(value, Mapping | list):
                value = encode_json(value if isinstance(value, Mapping) else {"": value}, owner=name)
            return ("SET", key, _scalar(name, field or "(record)", value))
        if meta.type in ("hash", "stream"):
            if not isinstance(value, Mapping) or not value:
                raise invalid(
                    name, field or "(record)", f"a {meta.type} needs a non-empty mapping", "Meta.type"
                )
            pairs: list[Any] = []
            for item_field, item in value.items():
                pairs.extend((str(item_field), _scalar(name, str(item_field), item)))
            return ("HSET", key, *pairs) if meta.type == "hash" else ("XADD", key, "*", *pairs)
        if meta.type == "set":
            members = [_scalar(name, str(field), m) for m in _iterable(name, str(field), value)]
            if not members:
                raise invalid(name, str(field), "a set needs at least one member", "Meta.type")
            return ("SADD", key, *members)
        if not isinstance(value, Mapping) or not value:
            raise invalid(name, str(field), "a zset needs a non-empty {member: score} mapping", "Meta.type")
        pairs = []
        for member, score in value.items():
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise invalid(name, str(field), f"score of {member!r} is not a number", "Meta.type")
            pairs.extend((score, _scalar(name, str(field), member)))
        return ("ZADD", key, *pairs)


def _scalar(owner: str, field: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, _SCALARS):
        if isinstance(value, datetime.datetime | datetime.date):
            return value.isoformat()
        raise invalid(owner, field, f"Redis cannot hold {type(value).__name__} values here", "the Redis type")
    return value


def _iterable(owner: str, field: str, value: Any) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise invalid(owner, field, "set members must be a list, tuple or set", "Meta.type")
    return list(value)
