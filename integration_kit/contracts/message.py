"""Message contracts (Kafka and the like) and their verification.

A :class:`MessageContract` names a message type and fixes, in JSON Schema, what its
value (and optionally its key) may be and which headers it must carry::

    contract = MessageContract(
        name="order-created", version="1.0.0", topic="orders",
        value={"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
        headers=["trace-id"],
    )
    verify_message(contract, {"id": 7}, headers={"trace-id": "abc"})
    await kafka.expect_message("orders", where=contract.matches)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from integration_kit.contracts.schema import (
    Schema,
    Version,
    Violation,
    check_schema,
    header_path,
    violations,
)
from integration_kit.errors import ContractDefinitionError, ContractError, ErrorCode

MODES = ("backward", "forward", "full", "none")
"""Compatibility modes a contract can declare (``none``: versions are not checked)."""

HeadersLike = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]


def check_mode(mode: str, *, allow_none: bool = True) -> str:
    """``mode`` if it is a known compatibility mode, else ``IK-CONTRACT-UNKNOWN-MODE``."""
    known = MODES if allow_none else MODES[:-1]
    if mode not in known:
        raise ContractDefinitionError(ErrorCode.CONTRACT_UNKNOWN_MODE, mode=mode, known=", ".join(known))
    return mode


@dataclass(frozen=True)
class Example:
    """A sample message that must satisfy its contract (checked when the contract is built)."""

    value: Any
    key: Any = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True)
class _Decoded:
    value: Any
    key: Any
    headers: dict[str, str] | None  # None: not checked
    key_checked: bool = True
    problem: tuple[str, str] | None = None  # (part, cause) when something was not decodable


@dataclass(frozen=True, eq=False)
class MessageContract:
    """What one kind of message looks like, at one version.

    ``value``/``key`` are JSON Schemas; ``headers`` the required headers, as names or
    as ``name -> schema`` of their text; ``compatibility`` the mode in which each new
    version must stay compatible with the previous one. The definition is checked when
    the contract is built (``IK-CONTRACT-INVALID``), including its examples.
    """

    name: str
    version: str
    value: Schema
    topic: str | None = None
    key: Schema | None = None
    headers: Mapping[str, Schema] | Sequence[str] = field(default_factory=dict)
    examples: Sequence[Example | Mapping[str, Any]] = ()
    compatibility: str = "backward"
    description: str = ""
    source: str = "<python>"

    def __post_init__(self) -> None:
        where = f"{self.source} ({self.name!r} {self.version})"
        if not isinstance(self.name, str) or not self.name:
            raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=where, cause="name is empty")
        Version.parse(self.version, source=where)
        check_schema(self.value, source=f"{where} value")
        if self.key is not None:
            check_schema(self.key, source=f"{where} key")
        headers = self.headers
        if isinstance(headers, Mapping):
            normalized = dict(headers)
        elif isinstance(headers, Sequence) and not isinstance(headers, str):
            normalized = {name: {} for name in headers}
        else:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=where, cause="headers must be a list of names or a mapping"
            )
        for name, schema in normalized.items():
            check_schema(schema, source=f"{where} header {name!r}")
        object.__setattr__(self, "headers", normalized)
        check_mode(self.compatibility)
        examples = tuple(_example(e, where) for e in self.examples)
        object.__setattr__(self, "examples", examples)
        for index, example in enumerate(examples):
            found = self.violations(example.value, key=example.key, headers=example.headers)
            if found:
                raise ContractDefinitionError(
                    ErrorCode.CONTRACT_INVALID,
                    source=where,
                    cause=f"example {index} breaks the contract: " + "; ".join(map(str, found)),
                )

    # --- identity ---
    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    @property
    def samples(self) -> tuple[Example, ...]:
        """The examples, as :class:`Example` objects."""
        return self.examples  # type: ignore[return-value]

    @property
    def required_headers(self) -> dict[str, Schema]:
        return dict(self.headers)  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> MessageContract:
        """From the JSON form (see docs/contracts.md); ``IK-CONTRACT-INVALID`` on unknown fields."""
        allowed = {"kind", "name", "version", "topic", "key", "value", "headers", "examples"}
        allowed |= {"compatibility", "description"}
        _check_fields(data, allowed, required={"name", "version", "value"}, source=source)
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**fields, source=source)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``from_dict(to_dict())`` gives an equal contract."""
        data: dict[str, Any] = {"kind": "message", "name": self.name, "version": self.version}
        if self.topic is not None:
            data["topic"] = self.topic
        if self.key is not None:
            data["key"] = self.key
        data["value"] = self.value
        data["headers"] = dict(self.headers)  # type: ignore[arg-type]
        data["compatibility"] = self.compatibility
        if self.description:
            data["description"] = self.description
        data["examples"] = [
            {k: v for k, v in (("value", e.value), ("key", e.key), ("headers", e.headers)) if v is not None}
            for e in self.samples
        ]
        return data

    # --- verification ---
    def violations(
        self, value: Any, *, key: Any = None, headers: HeadersLike | None = None
    ) -> list[Violation]:
        """Every way the message breaks the contract (empty if it conforms).

        ``bytes`` values are decoded as JSON (undecodable bytes are one violation);
        anything else is taken as the decoded value. The key and the headers are checked
        only when given (``key=None`` means "not checked"). Paths: ``$...`` for the value,
        ``key...`` for the key, ``headers["name"]`` for headers.
        """
        decoded = self._decode(value, key, headers)
        if decoded.problem is not None:
            part, cause = decoded.problem
            return [Violation(part if part != "value" else "$", f"not decodable: {cause}", "decode")]
        return self._check(decoded)

    def verify(self, value: Any, *, key: Any = None, headers: HeadersLike | None = None) -> None:
        """Same as :func:`verify_message` with this contract."""
        verify_message(self, value, key=key, headers=headers)

    def verify_record(self, record: Any, *, check_topic: bool = False) -> None:
        """Verify a consumed Kafka record (aiokafka ``ConsumerRecord`` or the kit's ``Message``).

        The record's ``value`` bytes are decoded as JSON, its ``key`` bytes as UTF-8 text
        (or JSON where the key schema needs it), its ``headers`` as UTF-8 text. With
        ``check_topic``, the record's topic must be the contract's (namespaced or not).
        """
        verify_record(self, record, check_topic=check_topic)

    def matches(self, record: Any) -> bool:
        """True if ``record`` conforms: a predicate for ``expect_message(where=...)``."""
        try:
            verify_record(self, record)
        except (ContractError, AttributeError, TypeError):
            return False
        return True

    def assert_matches(self, record: Any) -> bool:
        """True if ``record`` conforms, else raise: as a predicate, the reason ends up in the
        ``IK-KAFKA-NO-MESSAGE`` error when no message matched."""
        verify_record(self, record)
        return True

    def _decode(
        self, value: Any, key: Any, headers: HeadersLike | None, *, key_checked: bool | None = None
    ) -> _Decoded:
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                value = json.loads(bytes(value).decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                return _Decoded(None, None, None, problem=("value", str(exc)))
        if isinstance(key, (bytes, bytearray, memoryview)):
            try:
                key = bytes(key).decode("utf-8")
            except UnicodeDecodeError as exc:
                return _Decoded(None, None, None, problem=("key", str(exc)))
        try:
            text_headers = _text_headers(headers)
        except UnicodeDecodeError as exc:
            return _Decoded(None, None, None, problem=("headers", str(exc)))
        checked = key is not None if key_checked is None else key_checked
        return _Decoded(value, key, text_headers, checked)

    def _check(self, decoded: _Decoded) -> list[Violation]:
        found = violations(self.value, decoded.value)
        if self.key is not None and decoded.key_checked:
            found += _key_violations(self.key, decoded.key)
        if decoded.headers is None:
            return found
        present = decoded.headers
        for name, schema in self.required_headers.items():
            where = header_path(name)
            if name not in present:
                found.append(Violation(where, "required header is missing", "required"))
            else:
                found += violations(schema, present[name], root=where)
        return found


def _key_violations(schema: Schema, key: Any) -> list[Violation]:
    found = violations(schema, key, root="key")
    if found and isinstance(key, str):
        try:
            parsed = json.loads(key)
        except ValueError:
            return found
        if not violations(schema, parsed, root="key"):
            return []
    return found


def _text_headers(headers: HeadersLike | None) -> dict[str, str] | None:
    if headers is None:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    text: dict[str, str] = {}
    for name, value in pairs:
        if value is None:  # Kafka allows a header without a value
            text[name] = ""
        elif isinstance(value, (bytes, bytearray)):
            text[name] = bytes(value).decode("utf-8")
        else:
            text[name] = str(value)
    return text


def _example(data: Example | Mapping[str, Any], where: str) -> Example:
    if isinstance(data, Example):
        return data
    if not isinstance(data, Mapping) or "value" not in data:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=where, cause=f"an example needs a 'value': {data!r}"
        )
    _check_fields(data, {"value", "key", "headers"}, required={"value"}, source=where)
    headers = data.get("headers")
    return Example(
        value=data["value"], key=data.get("key"), headers=None if headers is None else dict(headers)
    )


def _check_fields(data: Any, allowed: set[str], *, required: set[str], source: str) -> None:
    if not isinstance(data, Mapping):
        raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=source, cause="expected an object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID,
            source=source,
            cause=f"unknown field(s) {unknown}; allowed: {sorted(allowed)}",
        )
    missing = sorted(required - set(data))
    if missing:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=source, cause=f"missing field(s) {missing}"
        )


def render_violations(found: Sequence[Violation]) -> str:
    return "".join(f"\n    - {v}" for v in found)


def verify_message(
    contract: MessageContract, value: Any, *, key: Any = None, headers: HeadersLike | None = None
) -> None:
    """Raise ``IK-CONTRACT-VIOLATION`` naming the JSON path of every violation, if any.

    ``key`` and ``headers`` are checked when given (a record's always are: see
    :func:`verify_record`).
    ``IK-CONTRACT-UNDECODABLE`` when ``value`` (bytes) is not UTF-8 JSON. The error's
    context holds ``details``: the list of :class:`Violation`.
    """
    _verify(contract, contract._decode(value, key, headers), subject="message")


def verify_record(contract: MessageContract, record: Any, *, check_topic: bool = False) -> None:
    """Verify a Kafka record against ``contract`` (see :meth:`MessageContract.verify_record`)."""
    topic = getattr(record, "topic", None)
    subject = "message" if topic is None else f"message on {topic}"
    offset = getattr(record, "offset", None)
    if offset is not None:
        subject += f"[{getattr(record, 'partition', '?')}]@{offset}"
    decoded = contract._decode(
        record.value, record.key, getattr(record, "headers", None) or (), key_checked=True
    )
    extra: list[Violation] = []
    if check_topic and contract.topic is not None and not _same_topic(topic, contract.topic):
        extra.append(Violation("topic", f"is {topic!r}, the contract's topic is {contract.topic!r}", "topic"))
    _verify(contract, decoded, subject=subject, extra=extra)


def _same_topic(actual: str | None, declared: str) -> bool:
    return actual is not None and (actual == declared or actual.endswith("." + declared))


def _verify(
    contract: MessageContract, decoded: _Decoded, *, subject: str, extra: Sequence[Violation] = ()
) -> None:
    if decoded.problem is not None:
        part, cause = decoded.problem
        raise ContractError(
            ErrorCode.CONTRACT_UNDECODABLE, part=part, subject=subject, contract=contract.ref, cause=cause
        )
    found = [*extra, *contract._check(decoded)]
    if found:
        raise ContractError(
            ErrorCode.CONTRACT_VIOLATION,
            subject=subject,
            contract=contract.ref,
            violations=render_violations(found),
            details=found,
        )
