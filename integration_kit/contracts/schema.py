"""JSON Schema helpers: validation that names the JSON path of each violation, semver."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from integration_kit.dependencies import require

require("jsonschema", feature="contract testing (integration_kit.contracts)")

import jsonschema  # noqa: E402 - after the version check
from jsonschema.exceptions import SchemaError, ValidationError  # noqa: E402
from jsonschema.protocols import Validator  # noqa: E402

from integration_kit.errors import ContractDefinitionError, ErrorCode  # noqa: E402

Schema = Mapping[str, Any] | bool

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """``$.items[0].sku`` from ``["items", 0, "sku"]`` (odd keys as ``$['a b']``)."""
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}"
        else:
            text += f"[{json.dumps(part)}]"
    return text


def header_path(name: str) -> str:
    """``headers["trace-id"]``: where a header is, in violations and failures."""
    return f"headers[{json.dumps(name)}]"


@dataclass(frozen=True)
class Violation:
    """One way an instance breaks a schema: where (JSON path), what rule, and why."""

    path: str
    message: str
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@functools.lru_cache(maxsize=256)
def _validator_for(frozen: str) -> Validator:
    schema = json.loads(frozen)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


_BY_ID: dict[int, tuple[Schema, Validator]] = {}


def _validator(schema: Schema) -> Validator:
    """The validator of ``schema``, cached by identity (the entry keeps the schema alive)."""
    entry = _BY_ID.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    validator = _validator_for(json.dumps(schema, sort_keys=True))
    if len(_BY_ID) >= 1024:
        _BY_ID.clear()
    _BY_ID[id(schema)] = (schema, validator)
    return validator


def check_schema(schema: Any, *, source: str) -> None:
    """Raise ``IK-CONTRACT-INVALID`` unless ``schema`` is a valid JSON Schema."""
    if not isinstance(schema, (Mapping, bool)):
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=source, cause=f"a schema must be an object, got {schema!r}"
        )
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        json.dumps(schema)
    except SchemaError as exc:
        where = json_path(exc.absolute_path)
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=source, cause=f"schema at {where}: {exc.message}"
        ) from exc
    except (TypeError, ValueError) as exc:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=source, cause=f"schema is not JSON: {exc}"
        ) from exc


def violations(schema: Schema, instance: Any, *, root: str = "$") -> list[Violation]:
    """Every violation of ``schema`` by ``instance``, sorted by path, each with its JSON path.

    A missing required property is reported at the property's own path
    (``$.customer.email: required property is missing``), an unexpected one likewise.
    """
    validator = _validator(schema)
    if validator.is_valid(instance):
        return []
    found: dict[tuple[str, str], Violation] = {}
    for error in validator.iter_errors(instance):
        for violation in _explain(error, root):
            found.setdefault((violation.path, violation.message), violation)
    return sorted(found.values(), key=lambda v: (v.path, v.message))


def _explain(error: ValidationError, root: str) -> Iterator[Violation]:
    parts = list(error.absolute_path)
    rule = str(error.validator)
    instance = error.instance
    if rule == "required" and isinstance(instance, Mapping):
        for name in error.validator_value:
            if name not in instance:
                yield Violation(json_path([*parts, name], root), "required property is missing", rule)
        return
    if rule == "additionalProperties" and isinstance(instance, Mapping) and error.validator_value is False:
        declared = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) else {}
        for name in instance:
            if name not in declared and not any(re.search(p, name) for p in patterns):
                yield Violation(json_path([*parts, name], root), "property is not allowed", rule)
        return
    if rule in ("anyOf", "oneOf") and error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        detail = "; ".join(str(v) for v in _explain(deepest, root))
        yield Violation(json_path(parts, root), f"matches no alternative of {rule} (closest: {detail})", rule)
        return
    yield Violation(json_path(parts, root), error.message, rule)


# --- semantic versions ---

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A semantic version (``MAJOR.MINOR.PATCH[-pre][+build]``), ordered by semver precedence."""

    text: str
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: Any, *, source: str = "version") -> Version:
        """``IK-CONTRACT-INVALID`` when ``text`` is not a semantic version."""
        match = _SEMVER.match(text) if isinstance(text, str) else None
        if match is None:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=source,
                cause=f"version {text!r} is not a semantic version (MAJOR.MINOR.PATCH)",
            )
        pre = tuple(int(p) if p.isdigit() else p for p in (match.group(4) or "").split(".") if p)
        return cls(text, int(match.group(1)), int(match.group(2)), int(match.group(3)), pre)

    def _key(self) -> tuple[Any, ...]:
        # a release sorts after its prereleases; numeric identifiers before alphanumeric ones
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.text
