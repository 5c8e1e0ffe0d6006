"""Consumer-driven contracts: consumers publish what they read, providers verify it.

A consumer declares the fields it reads from a message and their JSON types::

    billing = ConsumerExpectation(
        consumer="billing", contract="order-created",
        fields={"id": "integer", "items[].sku": "string", "note": {"type": "string", "optional": True}},
        headers=["trace-id"],
    )

The provider then checks that its contract *guarantees* each field (declared, required
on the way down, of an accepted type) and that the messages it really produces carry
them: :func:`verify_provider` returns a report of every failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from integration_kit.contracts.compat import _json_type, _merge_all_of, _resolve, _types
from integration_kit.contracts.message import MessageContract, _check_fields
from integration_kit.contracts.schema import json_path
from integration_kit.errors import ContractDefinitionError, ContractError, ErrorCode

JSON_TYPES = ("array", "boolean", "integer", "null", "number", "object", "string")
_PATH = re.compile(r"^[^.\[\]]+(\[\])*(\.[^.\[\]]+(\[\])*)*$")


@dataclass(frozen=True)
class FieldExpectation:
    """A field a consumer reads: ``path`` (``a.b``, ``items[].sku``) and the types it accepts."""

    path: str
    types: tuple[str, ...]
    optional: bool = False

    @property
    def segments(self) -> list[str | None]:
        """Names, with None for "each item of an array"."""
        parts: list[str | None] = []
        for raw in self.path.split("."):
            name = raw.removesuffix("[]")
            parts.append(name)
            parts.extend([None] * ((len(raw) - len(name)) // 2))
        return parts

    def accepts(self, json_type: str) -> bool:
        return json_type in self.types or (json_type == "integer" and "number" in self.types)


@dataclass(frozen=True, eq=False)
class ConsumerExpectation:
    """What consumer ``consumer`` reads from messages of contract ``contract``.

    ``fields``: ``path -> type`` where a type is a JSON type name, a list of them, or
    ``{"type": ..., "optional": bool}`` (an optional field may be absent but, when
    present, must have the type). ``headers``: header names the consumer reads.
    """

    consumer: str
    contract: str
    fields: Mapping[str, Any] | Sequence[FieldExpectation]
    headers: Sequence[str] = ()
    description: str = ""
    source: str = "<python>"

    def __post_init__(self) -> None:
        where = f"{self.source} (consumer {self.consumer!r} of {self.contract!r})"
        if not self.consumer or not self.contract:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=where, cause="consumer and contract must be named"
            )
        raw = self.fields
        if isinstance(raw, Mapping):
            parsed = tuple(_field(path, spec, where) for path, spec in raw.items())
        else:
            parsed = tuple(raw)
        if not parsed and not self.headers:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=where, cause="an expectation needs fields or headers"
            )
        object.__setattr__(self, "fields", parsed)
        object.__setattr__(self, "headers", tuple(self.headers))

    @property
    def field_expectations(self) -> tuple[FieldExpectation, ...]:
        return self.fields  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> ConsumerExpectation:
        allowed = {"kind", "consumer", "contract", "fields", "headers", "description"}
        _check_fields(data, allowed, required={"consumer", "contract"}, source=source)
        return cls(**{k: v for k, v in data.items() if k != "kind"}, source=source)

    def to_dict(self) -> dict[str, Any]:
        fields = {
            f.path: {"type": list(f.types) if len(f.types) > 1 else f.types[0], "optional": f.optional}
            if f.optional
            else (list(f.types) if len(f.types) > 1 else f.types[0])
            for f in self.field_expectations
        }
        data: dict[str, Any] = {"kind": "consumer", "consumer": self.consumer, "contract": self.contract}
        data["fields"] = fields
        if self.headers:
            data["headers"] = list(self.headers)
        return data


def _field(path: Any, spec: Any, where: str) -> FieldExpectation:
    optional = False
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"type", "optional"}
        if unknown or "type" not in spec:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=where,
                cause=f"field {path!r}: expected {{'type': ..., 'optional': bool}}, got {dict(spec)!r}",
            )
        optional = bool(spec.get("optional", False))
        spec = spec["type"]
    types = (spec,) if isinstance(spec, str) else tuple(spec) if isinstance(spec, (list, tuple)) else ()
    bad = [t for t in types if t not in JSON_TYPES]
    if not types or bad:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID,
            source=where,
            cause=f"field {path!r}: types must be among {list(JSON_TYPES)}, got {spec!r}",
        )
    if not isinstance(path, str) or not _PATH.match(path):
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID,
            source=where,
            cause=f"field path {path!r} is not of the form 'a.b', 'items[].sku'",
        )
    return FieldExpectation(path, types, optional)


# --- the provider's side ---


@dataclass(frozen=True)
class ProviderFailure:
    """One broken expectation: which consumer, which field, where it was found, and why."""

    consumer: str
    field: str
    where: str  # "contract", "message 3", "example 0"
    problem: str

    def __str__(self) -> str:
        if self.consumer == "(contract)":
            return f"{self.where} breaks {self.field}: {self.problem}"
        return f"{self.consumer} reads {self.field}: {self.where}: {self.problem}"


@dataclass
class ProviderReport:
    """Outcome of :func:`verify_provider`; true when every expectation holds."""

    provider: str
    contract: str
    consumers: list[str]
    messages: int
    failures: list[ProviderFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __bool__(self) -> bool:
        return self.ok

    def render(self) -> str:
        head = (
            f"provider {self.provider} ({self.contract}), {len(self.consumers)} consumer(s), "
            f"{self.messages} message(s)"
        )
        if self.ok:
            return f"{head}: all expectations hold"
        return f"{head}: {len(self.failures)} failure(s)" + "".join(f"\n    - {f}" for f in self.failures)

    def raise_for_failures(self) -> None:
        """``IK-CONTRACT-PROVIDER-FAILED`` listing every failure, if there is any."""
        if self.failures:
            raise ContractError(
                ErrorCode.CONTRACT_PROVIDER_FAILED,
                provider=f"{self.provider} ({self.contract})",
                count=len(self.failures),
                failures="".join(f"\n    - {f}" for f in self.failures),
                details=list(self.failures),
            )


def verify_provider(
    contract: MessageContract,
    expectations: Iterable[ConsumerExpectation],
    *,
    messages: Iterable[Any] = (),
    provider: str | None = None,
    include_examples: bool = True,
) -> ProviderReport:
    """Check that ``contract`` and the produced ``messages`` satisfy every consumer.

    Expectations of other contracts are ignored. ``messages`` are decoded values,
    JSON ``bytes``, or Kafka records (their headers are checked too). Each message must
    also satisfy the contract itself (failures of consumer ``(contract)``). The
    contract's examples are checked like messages unless ``include_examples=False``.
    """
    relevant = [e for e in expectations if e.contract == contract.name]
    report = ProviderReport(
        provider=provider or contract.name,
        contract=contract.ref,
        consumers=sorted({e.consumer for e in relevant}),
        messages=0,
    )
    for expectation in relevant:
        report.failures += _contract_failures(contract, expectation)
    samples: list[tuple[str, Any, Mapping[str, str] | None, Any]] = []
    if include_examples:
        for index, example in enumerate(contract.samples):
            samples.append((f"example {index}", example.value, example.headers, None))
    for index, message in enumerate(messages):
        samples.append((f"message {index}", *_unpack(message)))
        report.messages += 1
    for where, value, sample_headers, key in samples:
        decoded = contract._decode(value, key, sample_headers)
        if decoded.problem is not None:
            report.failures.append(
                ProviderFailure("(contract)", "$", where, f"not decodable: {decoded.problem[1]}")
            )
            continue
        own = contract._check(decoded)
        if own:
            report.failures.append(
                ProviderFailure("(contract)", contract.ref, where, "; ".join(map(str, own)))
            )
        for expectation in relevant:
            report.failures += _message_failures(expectation, decoded.value, decoded.headers, where)
    return report


def _unpack(message: Any) -> tuple[Any, dict[str, str] | None, Any]:
    if hasattr(message, "value") and hasattr(message, "headers"):
        headers = {
            name: value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")
            for name, value in (message.headers or ())
        }
        return message.value, headers, getattr(message, "key", None)
    return message, None, None


def _contract_failures(contract: MessageContract, expectation: ConsumerExpectation) -> list[ProviderFailure]:
    failures = []
    for name in expectation.headers:
        if name not in contract.required_headers:
            failures.append(
                ProviderFailure(
                    expectation.consumer, f"header {name!r}", "contract", "header is not required"
                )
            )
    for spec in expectation.field_expectations:
        for problem in _guarantees(contract.value, contract.value, spec.segments, spec, "$"):
            failures.append(ProviderFailure(expectation.consumer, spec.path, "contract", problem))
    return failures


def _guarantees(
    root: Any, schema: Any, segments: list[str | None], spec: FieldExpectation, path: str
) -> list[str]:
    """Why ``schema`` does not guarantee the field (empty if it does)."""
    schema = _resolve(schema, root)
    if schema is True or schema == {}:
        return [f"{path} is not described by the contract (any value allowed)"]
    if schema is False:
        return []
    schema = _merge_all_of(schema, root)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            base = {k: v for k, v in schema.items() if k != keyword}
            problems: list[str] = []
            for index, branch in enumerate(schema[keyword]):
                merged = {**base, **_resolve(branch, root)} if isinstance(branch, Mapping) else branch
                problems += [
                    f"{p} (in {keyword}[{index}])" for p in _guarantees(root, merged, segments, spec, path)
                ]
            return problems
    if not segments:
        types = _types(schema)
        if types is None:
            return [f"{path} has no fixed type in the contract; consumer expects {_fmt(spec.types)}"]
        extra = sorted(t for t in types if not spec.accepts(t))
        if extra:
            return [f"{path} may be {_fmt(extra)} in the contract; consumer expects {_fmt(spec.types)}"]
        return []
    head, rest = segments[0], segments[1:]
    types = _types(schema)
    if head is None:
        items = schema.get("items")
        if types is not None and types != {"array"} and not ({"array", "null"} >= types and spec.optional):
            return [f"{path} may be {_fmt(types)} in the contract; consumer reads it as an array"]
        if not isinstance(items, (Mapping, bool)):
            return [f"{path} has no 'items' schema in the contract"]
        return _guarantees(root, items, rest, spec, path + "[*]")
    child = path + json_path([head], "")
    if types is not None and "object" not in types:
        return [f"{path} is {_fmt(types)} in the contract; consumer reads {child}"]
    if types is not None and types != {"object"} and not spec.optional:
        return [f"{path} may be {_fmt(types)} in the contract; consumer reads {child}"]
    properties = schema.get("properties", {})
    if head not in properties:
        return [f"{child} is not declared by the contract"]
    if head not in schema.get("required", ()) and not spec.optional:
        return [f"{child} is optional in the contract; consumer requires it"]
    return _guarantees(root, properties[head], rest, spec, child)


def _message_failures(
    expectation: ConsumerExpectation, value: Any, headers: dict[str, str] | None, where: str
) -> list[ProviderFailure]:
    failures = []
    if headers is not None:
        for name in expectation.headers:
            if name not in headers:
                failures.append(
                    ProviderFailure(expectation.consumer, f"header {name!r}", where, "header is missing")
                )
    for spec in expectation.field_expectations:
        for problem in _read(value, spec.segments, spec, "$"):
            failures.append(ProviderFailure(expectation.consumer, spec.path, where, problem))
    return failures


def _read(value: Any, segments: list[str | None], spec: FieldExpectation, path: str) -> list[str]:
    if not segments:
        actual = _json_type(value)
        if not spec.accepts(actual):
            return [f"{path} is {actual} ({json.dumps(value)[:60]}); consumer expects {_fmt(spec.types)}"]
        return []
    head, rest = segments[0], segments[1:]
    if head is None:
        if not isinstance(value, list):
            if value is None and spec.optional:
                return []
            return [f"{path} is {_json_type(value)}; consumer reads it as an array"]
        problems: list[str] = []
        for index, item in enumerate(value):
            problems += _read(item, rest, spec, f"{path}[{index}]")
        return problems
    child = path + json_path([head], "")
    if not isinstance(value, Mapping):
        if value is None and spec.optional:
            return []
        return [f"{path} is {_json_type(value)}; consumer reads {child}"]
    if head not in value:
        return [] if spec.optional else [f"{child} is missing"]
    return _read(value[head], rest, spec, child)


def _fmt(types: Iterable[str]) -> str:
    items = sorted(types)
    return items[0] if len(items) == 1 else "[" + ", ".join(items) + "]"
