"""Message encoding for ``send`` and the :class:`Message` tests assert on."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from integration_kit.errors import ErrorCode, KafkaArgumentError

Headers = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]


def encode_value(value: Any) -> bytes | None:
    """``bytes`` as is, ``str`` as UTF-8, dicts/lists/numbers/bools as compact JSON, None as None."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (dict, list, tuple, int, float, bool)):
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise _invalid("value", value, "JSON-serializable dicts/lists, str or bytes") from exc
    raise _invalid("value", value, "bytes, str, or a JSON-serializable dict/list/number")


def encode_key(key: Any) -> bytes | None:
    """Keys: ``bytes`` as is, ``str`` as UTF-8, ints as their decimal text, None as None."""
    if key is None:
        return None
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key).encode()
    raise _invalid("key", key, "bytes, str, int or None")


def encode_headers(headers: Headers | None) -> list[tuple[str, bytes]] | None:
    """A mapping or pairs of ``name -> str | bytes`` as the driver's list of pairs."""
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    encoded: list[tuple[str, bytes]] = []
    for pair in pairs:
        try:
            name, value = pair
        except (TypeError, ValueError) as exc:
            raise _invalid("headers", headers, "a mapping or (name, value) pairs") from exc
        if not isinstance(name, str) or not isinstance(value, (str, bytes)):
            raise _invalid("header", pair, "a str name with a str or bytes value")
        encoded.append((name, value.encode() if isinstance(value, str) else value))
    return encoded


def _invalid(argument: str, value: Any, expected: str) -> KafkaArgumentError:
    return KafkaArgumentError(
        ErrorCode.KAFKA_INVALID_ARGUMENT, argument=argument, value=value, expected=expected
    )


@dataclass(frozen=True)
class Message:
    """A consumed record. ``value``/``key`` are raw bytes; ``json()``/``text`` decode them."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp: int = 0

    @classmethod
    def from_record(cls, record: Any) -> Message:
        """From an aiokafka ``ConsumerRecord`` (with no deserializers configured)."""
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=tuple(record.headers or ()),
            timestamp=record.timestamp,
        )

    @property
    def text(self) -> str | None:
        """The value decoded as UTF-8."""
        return None if self.value is None else self.value.decode()

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode()

    def json(self) -> Any:
        """The value decoded as JSON."""
        return None if self.value is None else json.loads(self.value)

    def header(self, name: str) -> bytes | None:
        """The last header called ``name``, or None."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found

    def short(self) -> str:
        value = self.value if self.value is None or len(self.value) <= 200 else self.value[:200] + b"..."
        return f"{self.topic}[{self.partition}]@{self.offset} key={self.key!r} value={value!r}"
