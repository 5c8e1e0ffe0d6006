"""``KafkaMessageFactory``: factory_boy declarations sent as Kafka messages.

::

    class PriceEventFactory(KafkaMessageFactory):
        class Meta:
            topic = "prices"              # the declared name; the worker's namespace applies
            key = "sku"                   # a field name, a callable(record) or None
            headers = {"source": "seed"}  # a mapping or a callable(record)
            serializer = "json"           # "json", "bytes" or a callable(record) -> bytes

        sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
        price = factory.Faker("pydecimal", left_digits=3, right_digits=2, positive=True)

    PriceEventFactory.build()             # the record (a dict), validated
    PriceEventFactory.message()           # the encoded OutgoingMessage
    await PriceEventFactory.send_batch(50)

Messages go through the active seeding context's Kafka store: the test's
``self.kafka`` (a :class:`~integration_kit.kafka.handle.KafkaHandle`, which maps
declared names to the class's real topics), or the class's handle in a scenario.
JSON is compact with the declared field order; dates and times become ISO 8601,
``Decimal`` and ``UUID`` their text; anything else is ``IK-SEED-INVALID``.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from integration_kit.errors import UsageError
from integration_kit.kafka.messages import encode_headers, encode_key
from integration_kit.seeding import context
from integration_kit.seeding.base import OptionDefault, SeedFactory, SeedOptions, invalid_option
from integration_kit.seeding.validation import WHOLE_RECORD, invalid

SERIALIZERS = ("json", "bytes")


@dataclass(frozen=True)
class OutgoingMessage:
    """A built message: declared topic, encoded key, value and headers, and the record."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    record: dict[str, Any]


@dataclass(frozen=True)
class SentMessage:
    """A message the broker acknowledged: its real topic, partition and offset."""

    message: OutgoingMessage
    topic: str
    partition: int | None
    offset: int | None

    @property
    def record(self) -> dict[str, Any]:
        return self.message.record


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def encode_json(record: Mapping[str, Any], *, owner: str) -> bytes:
    """Compact JSON of ``record`` in its field order (``IK-SEED-INVALID`` if not encodable)."""
    try:
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        field = next((k for k, v in record.items() if not _encodable(v)), WHOLE_RECORD)
        raise invalid(owner, field, f"not JSON-encodable ({exc})", "the json serializer") from exc


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, default=_json_default)
    except (TypeError, ValueError):
        return False
    return True


class KafkaOptions(SeedOptions):
    topic: str
    key: str | Callable[[dict[str, Any]], Any] | None
    headers: Mapping[str, Any] | Callable[[dict[str, Any]], Any] | None
    serializer: str | Callable[[dict[str, Any]], bytes]

    def _build_default_options(self) -> list[OptionDefault]:
        return [
            *super()._build_default_options(),
            OptionDefault("topic", None, inherit=True),
            OptionDefault("key", None, inherit=True),
            OptionDefault("headers", None, inherit=True),
            OptionDefault("serializer", "json", inherit=True),
        ]

    def validate_options(self, owner: str) -> None:
        if not isinstance(self.topic, str) or not self.topic:
            raise invalid_option(owner, "topic", self.topic, "a topic name")
        if self.key is not None and not isinstance(self.key, str) and not callable(self.key):
            raise invalid_option(owner, "key", self.key, "a field name, a callable(record) or None")
        headers = self.headers
        if headers is not None and not callable(headers):
            try:
                encode_headers(headers)
            except UsageError as exc:
                raise invalid_option(owner, "headers", headers, "a mapping of str -> str/bytes") from exc
        if not callable(self.serializer) and self.serializer not in SERIALIZERS:
            raise invalid_option(
                owner, "serializer", self.serializer, "'json', 'bytes' or a callable(record) -> bytes"
            )


class KafkaMessageFactory(SeedFactory):
    """Records sent to ``Meta.topic``; see the module docstring."""

    _options_class = KafkaOptions

    class Meta:
        model = dict
        abstract = True

    @classmethod
    def encode(cls, record: dict[str, Any]) -> OutgoingMessage:
        """``record`` as the message ``send`` would produce."""
        meta: KafkaOptions = cls._meta  # type: ignore[assignment]
        name = cls.__name__
        serializer = meta.serializer
        value: bytes | None
        if callable(serializer):
            value = serializer(record)
            if not isinstance(value, bytes | None):
                raise invalid(
                    name, WHOLE_RECORD, f"serializer returned {type(value).__name__}", "Meta.serializer"
                )
        elif serializer == "json":
            value = encode_json(record, owner=name)
        else:
            if len(record) != 1 or not isinstance(next(iter(record.values())), bytes):
                raise invalid(
                    name, WHOLE_RECORD, "serializer 'bytes' needs exactly one bytes field", "Meta.serializer"
                )
            value = next(iter(record.values()))
        key: Any = None
        if isinstance(meta.key, str):
            if meta.key not in record:
                raise invalid(name, meta.key, "Meta.key names a field the record does not have", "Meta.key")
            key = record[meta.key]
            key = key if isinstance(key, bytes | str | int) else str(key)
        elif callable(meta.key):
            key = meta.key(record)
        headers = meta.headers(record) if callable(meta.headers) else meta.headers
        try:
            encoded_key = encode_key(key)
            encoded_headers = tuple(encode_headers(headers) or ())
        except UsageError as exc:
            raise invalid(name, "key/headers", exc.message, "Meta.key / Meta.headers") from exc
        return OutgoingMessage(
            topic=meta.topic, key=encoded_key, value=value, headers=encoded_headers, record=record
        )

    @classmethod
    def message(cls, **kwargs: Any) -> OutgoingMessage:
        """Build one record and encode it (nothing is sent)."""
        return cls.encode(cls.build(**kwargs))

    @classmethod
    async def create(cls, **kwargs: Any) -> SentMessage:  # type: ignore[override]
        """The same as :meth:`send`."""
        return await cls.send(**kwargs)

    @classmethod
    async def create_batch(cls, size: int, **kwargs: Any) -> list[SentMessage]:  # type: ignore[override]
        """The same as :meth:`send_batch`."""
        return await cls.send_batch(size, **kwargs)

    @classmethod
    async def send(cls, **kwargs: Any) -> SentMessage:
        """Build one message and send it; return it with its partition and offset."""
        (sent,) = await cls.send_batch(1, **kwargs)
        return sent

    @classmethod
    async def send_batch(cls, size: int, **kwargs: Any) -> list[SentMessage]:
        """Build ``size`` messages (all validated first), then send them in order."""
        store = context.require(cls.__name__, "kafka")
        messages = [cls.encode(record) for record in cls.build_batch(size, **kwargs)]
        return await send_messages(store, messages)


async def send_messages(store: Any, messages: list[OutgoingMessage]) -> list[SentMessage]:
    """Send ``messages`` in order through ``store`` (a KafkaHandle or a recorder)."""
    sent: list[SentMessage] = []
    ctx = context.current()
    for message in messages:
        metadata = await store.send(
            message.topic, message.value, key=message.key, headers=list(message.headers) or None
        )
        if ctx is not None:
            ctx.sent.append(message)
            ctx.report("kafka", 1)
        sent.append(
            SentMessage(
                message=message,
                topic=getattr(metadata, "topic", message.topic),
                partition=getattr(metadata, "partition", None),
                offset=getattr(metadata, "offset", None),
            )
        )
    return sent


class RecordingKafka:
    """A Kafka store that keeps messages instead of sending them (replayed later)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]] = []

    async def send(self, topic: str, value: Any, *, key: Any = None, headers: Any = None) -> None:
        self.messages.append((topic, value, key, headers))


async def replay(handle: Any, messages: list[OutgoingMessage]) -> None:
    """Send recorded ``messages`` again, in order, through ``handle``."""
    for message in messages:
        await handle.send(
            message.topic, message.value, key=message.key, headers=list(message.headers) or None
        )
