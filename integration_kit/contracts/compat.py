"""Version compatibility of JSON Schemas and message contracts.

The modes follow the usual schema-registry meaning:

- ``backward``: consumers on the *new* schema can read messages written with the *old*
  one (every old message is valid under the new schema);
- ``forward``: consumers still on the *old* schema can read messages written with the
  *new* one (every new message is valid under the old schema);
- ``full``: both.

Both directions are one question, "does every message the writer's schema allows pass
the reader's schema?", answered structurally: types, enums and consts, required
properties (a newly required property with a ``default`` is fine), closed objects,
array items, numeric/length bounds, patterns and formats, local ``$ref``, ``anyOf`` /
``oneOf`` / ``allOf``. Properties an open schema does not declare are assumed not to be
sent, so adding or removing an *optional* field is compatible in both directions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from integration_kit.contracts.message import MessageContract, check_mode
from integration_kit.contracts.schema import Schema, header_path, json_path
from integration_kit.errors import ContractDefinitionError, ContractError, ErrorCode

if TYPE_CHECKING:
    from integration_kit.contracts.registry import ContractRegistry

_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
_MAX_DEPTH = 64
_EXACT = ("pattern", "format", "contentEncoding", "contentMediaType")


@dataclass(frozen=True)
class Problem:
    """One incompatibility: where (JSON path), what kind, in which direction, and why."""

    path: str
    kind: str
    message: str
    direction: str  # "backward" or "forward"

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.direction}]"


@dataclass
class CompatibilityReport:
    """The outcome of :func:`check_compatibility`: true when compatible."""

    old: str
    new: str
    mode: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.compatible

    def render(self) -> str:
        head = f"{self.old} -> {self.new} ({self.mode})"
        if self.compatible:
            return f"{head}: compatible"
        return f"{head}: {len(self.problems)} problem(s)" + "".join(f"\n    - {p}" for p in self.problems)

    def raise_for_problems(self) -> None:
        """``IK-CONTRACT-INCOMPATIBLE`` listing every problem, if there is any."""
        if self.problems:
            raise ContractError(
                ErrorCode.CONTRACT_INCOMPATIBLE,
                subject=f"{self.old} -> {self.new}",
                mode=self.mode,
                problems="".join(f"\n    - {p}" for p in self.problems),
                details=list(self.problems),
            )


def check_compatibility(
    old: Schema | MessageContract, new: Schema | MessageContract, *, mode: str = "backward"
) -> CompatibilityReport:
    """Compare two JSON Schemas (or two message contracts: value, key and headers).

    ``mode`` is ``backward``, ``forward`` or ``full`` (``IK-CONTRACT-UNKNOWN-MODE``
    otherwise). Returns a report; call ``raise_for_problems()`` to assert.
    """
    check_mode(mode, allow_none=False)
    for side in (old, new):
        if not isinstance(side, (Mapping, bool, MessageContract)):
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=type(side).__name__,
                cause="check_compatibility compares two JSON Schemas or two MessageContracts",
            )
    if isinstance(old, MessageContract) != isinstance(new, MessageContract):
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID,
            source=f"{type(old).__name__} and {type(new).__name__}",
            cause="compare two schemas or two MessageContracts, not one of each (use contract.value)",
        )
    old_label = old.ref if isinstance(old, MessageContract) else "old schema"
    new_label = new.ref if isinstance(new, MessageContract) else "new schema"
    report = CompatibilityReport(old_label, new_label, mode)
    directions = ("backward", "forward") if mode == "full" else (mode,)
    for direction in directions:
        # backward: old messages (writer) must pass the new schema (reader); forward: the reverse
        writer, reader = (old, new) if direction == "backward" else (new, old)
        report.problems += _compare(writer, reader, direction)
    return report


def _compare(writer: Any, reader: Any, direction: str) -> list[Problem]:
    if not isinstance(writer, MessageContract):
        return _Checker(writer, reader, direction).run(writer, reader, "$")
    problems = _Checker(writer.value, reader.value, direction).run(writer.value, reader.value, "$")
    if reader.key is not None:
        wkey = writer.key if writer.key is not None else True
        problems += _Checker(wkey, reader.key, direction).run(wkey, reader.key, "key")
    checker = _Checker({}, {}, direction)
    for name, rschema in reader.required_headers.items():
        where = header_path(name)
        if name not in writer.required_headers:
            checker.problem(
                where,
                "header-required",
                "required header added (old messages may lack it)"
                if direction == "backward"
                else "header no longer required, but old consumers require it",
            )
        else:
            checker.run(writer.required_headers[name], rschema, where)
    return problems + checker.problems


class _Checker:
    """Finds where a writer schema allows what a reader schema rejects."""

    def __init__(self, writer_root: Any, reader_root: Any, direction: str) -> None:
        self.roots = (writer_root, reader_root)
        self.direction = direction
        self.problems: list[Problem] = []
        self._active: set[tuple[int, int]] = set()
        self._depth = 0

    # phrasing: the reader is the new schema in backward mode, the old one in forward mode
    @property
    def reader_is_new(self) -> bool:
        return self.direction == "backward"

    def old_new(self, writer_value: Any, reader_value: Any) -> tuple[Any, Any]:
        return (writer_value, reader_value) if self.reader_is_new else (reader_value, writer_value)

    def rejects(self, thing: str) -> str:
        if self.reader_is_new:
            return f"old messages with {thing} fail the new schema"
        return f"old consumers reject new messages with {thing}"

    def problem(self, path: str, kind: str, message: str) -> None:
        self.problems.append(Problem(path, kind, message, self.direction))

    def run(self, writer: Any, reader: Any, path: str) -> list[Problem]:
        self.check(writer, reader, path)
        return self.problems

    def check(self, writer: Any, reader: Any, path: str) -> None:
        writer = _resolve(writer, self.roots[0])
        reader = _resolve(reader, self.roots[1])
        key = (id(writer), id(reader))
        if key in self._active or self._depth >= _MAX_DEPTH:
            return  # a recursive schema: this pair is being compared further up
        self._active.add(key)
        self._depth += 1
        try:
            self._check(writer, reader, path)
        finally:
            self._active.discard(key)
            self._depth -= 1

    def _check(self, writer: Any, reader: Any, path: str) -> None:
        if reader is True or reader == {} or writer is False:
            return
        if reader is False:
            self.problem(path, "rejects-all", self.rejects("any value"))
            return
        if writer is True:
            writer = {}
        writer = _merge_all_of(writer, self.roots[0])
        reader = _merge_all_of(reader, self.roots[1])
        for keyword in ("anyOf", "oneOf"):
            if keyword in writer:
                base = {k: v for k, v in writer.items() if k != keyword}
                for branch in writer[keyword]:
                    self.check(_merge(base, _resolve(branch, self.roots[0])), reader, path)
                return
        for keyword in ("anyOf", "oneOf"):
            if keyword in reader:
                self._check_alternatives(writer, reader, keyword, path)
                return
        self._check_types(writer, reader, path)
        self._check_values(writer, reader, path)
        self._check_bounds(writer, reader, path)
        self._check_object(writer, reader, path)
        self._check_array(writer, reader, path)

    def _check_alternatives(
        self, writer: Mapping[str, Any], reader: Mapping[str, Any], kw: str, path: str
    ) -> None:
        base = {k: v for k, v in reader.items() if k != kw}
        best: list[Problem] | None = None
        for branch in reader[kw]:
            trial = _Checker(*self.roots, self.direction)
            trial._active, trial._depth = set(self._active), self._depth
            trial.check(writer, _merge(base, _resolve(branch, self.roots[1])), path)
            if not trial.problems:
                return
            if best is None or len(trial.problems) < len(best):
                best = trial.problems
        self.problem(
            path, "alternatives", f"no alternative of {kw} accepts it; " + self.rejects("such values")
        )
        self.problems += best or []

    def _check_types(self, writer: Mapping[str, Any], reader: Mapping[str, Any], path: str) -> None:
        rtypes = _types(reader)
        if rtypes is None:
            return
        wtypes = _types(writer)
        old, new = self.old_new(wtypes, rtypes)
        if wtypes is None:
            self.problem(
                path,
                "type-restricted",
                f"type restricted from any to {_fmt(new)}"
                if self.reader_is_new
                else f"type no longer fixed (was {_fmt(old)}); " + self.rejects("values of other types"),
            )
            return
        extra = sorted(t for t in wtypes if not (t in rtypes or (t == "integer" and "number" in rtypes)))
        if extra:
            self.problem(
                path,
                "type-changed",
                f"type changed from {_fmt(old)} to {_fmt(new)}; " + self.rejects(_fmt(extra) + " values"),
            )

    def _check_values(self, writer: Mapping[str, Any], reader: Mapping[str, Any], path: str) -> None:
        rvalues = _values(reader)
        if rvalues is None:
            return
        wvalues = _values(writer)
        if wvalues is None:
            kind = "enum-added" if self.reader_is_new else "enum-removed"
            what = "values restricted to" if self.reader_is_new else "values no longer restricted to"
            self.problem(path, kind, f"{what} {rvalues!r}; " + self.rejects("other values"))
            return
        extra = [v for v in wvalues if v not in rvalues]
        if extra:
            if self.reader_is_new:
                self.problem(
                    path,
                    "enum-narrowed",
                    f"enum narrowed: {extra!r} removed; " + self.rejects("these values"),
                )
            else:
                self.problem(
                    path, "enum-widened", f"enum widened: {extra!r} added; " + self.rejects("these values")
                )

    def _check_bounds(self, writer: Mapping[str, Any], reader: Mapping[str, Any], path: str) -> None:
        for keyword in (*_LOWER, *_UPPER):
            if keyword not in reader:
                continue
            rbound, wbound = reader[keyword], writer.get(keyword)
            lower = keyword in _LOWER
            if wbound is None or (wbound < rbound if lower else wbound > rbound):
                self._changed(path, keyword, wbound, rbound, "bound")
        for keyword in _EXACT:
            if keyword in reader and writer.get(keyword) != reader[keyword]:
                self._changed(path, keyword, writer.get(keyword), reader[keyword], "constraint")
        if "multipleOf" in reader:
            wstep, rstep = writer.get("multipleOf"), reader["multipleOf"]
            if wstep is None or (wstep / rstep) != int(wstep / rstep):
                self._changed(path, "multipleOf", wstep, rstep, "constraint")
        if reader.get("uniqueItems") and not writer.get("uniqueItems"):
            self._changed(path, "uniqueItems", writer.get("uniqueItems", False), True, "constraint")

    def _changed(self, path: str, keyword: str, wvalue: Any, rvalue: Any, what: str) -> None:
        old, new = self.old_new(wvalue, rvalue)
        verb = "tightened" if self.reader_is_new else "loosened"
        self.problem(
            path,
            f"{what}-{verb}",
            f"{keyword} {verb} from {_show(old)} to {_show(new)}; " + self.rejects("the values in between"),
        )

    def _check_object(self, writer: Mapping[str, Any], reader: Mapping[str, Any], path: str) -> None:
        rprops: Mapping[str, Any] = reader.get("properties", {})
        wprops: Mapping[str, Any] = writer.get("properties", {})
        rrequired, wrequired = set(reader.get("required", ())), set(writer.get("required", ()))
        radd, wadd = reader.get("additionalProperties", True), writer.get("additionalProperties", True)
        for name in sorted(rrequired - wrequired):
            rschema = _resolve(rprops.get(name, {}), self.roots[1])
            if isinstance(rschema, Mapping) and "default" in rschema:
                continue
            where = _child(path, name)
            if self.reader_is_new:
                self.problem(
                    where, "required-added", "required field added without a default (old messages lack it)"
                )
            elif name not in wprops:
                self.problem(where, "required-removed", "field removed, but old consumers require it")
            else:
                self.problem(where, "required-relaxed", "field made optional, but old consumers require it")
        for name in sorted(set(wprops) & set(rprops)):
            self.check(wprops[name], rprops[name], _child(path, name))
        for name in sorted(set(wprops) - set(rprops)):
            where = _child(path, name)
            if radd is False and not _matches_pattern(name, reader):
                if self.reader_is_new:
                    self.problem(
                        where,
                        "field-not-allowed",
                        "field removed and the new schema forbids additional properties "
                        "(old messages carry it)",
                    )
                else:
                    self.problem(
                        where,
                        "field-not-allowed",
                        "field added, but old consumers forbid additional properties",
                    )
            elif isinstance(radd, (Mapping, bool)) and radd is not True:
                self.check(wprops[name], radd, where)
        if radd is False and wadd is not False:
            self.problem(
                path,
                "closed",
                "additionalProperties closed"
                if self.reader_is_new
                else "additionalProperties opened, but old consumers forbid them",
            )
        elif isinstance(radd, Mapping) and isinstance(wadd, Mapping):
            self.check(wadd, radd, _child(path, "*"))

    def _check_array(self, writer: Mapping[str, Any], reader: Mapping[str, Any], path: str) -> None:
        ritems = reader.get("items")
        if ritems is None or ritems is True:
            return
        witems = writer.get("items", True)
        self.check(witems, ritems, path + "[*]")


def _child(path: str, name: str) -> str:
    return path + json_path([name], "")


def _matches_pattern(name: str, schema: Mapping[str, Any]) -> bool:
    import re

    return any(re.search(p, name) for p in schema.get("patternProperties", {}))


def _resolve(schema: Any, root: Any) -> Any:
    """Follow local ``$ref`` (``#/...``) within ``root``; siblings of ``$ref`` are kept."""
    hops = 0
    while (
        isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and schema["$ref"].startswith("#")
    ):
        target: Any = root
        for token in schema["$ref"][1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            target = target[int(token)] if isinstance(target, list) else target[token]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = _merge(target, siblings) if siblings and isinstance(target, Mapping) else target
        hops += 1
        if hops > 50:
            break
    return schema


def _merge(base: Any, extra: Any) -> Any:
    if not isinstance(base, Mapping) or not isinstance(extra, Mapping):
        return extra if base in ({}, True) else base
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties" and key in merged:
            merged[key] = {**merged[key], **value}
        elif key == "required" and key in merged:
            merged[key] = sorted(set(merged[key]) | set(value))
        else:
            merged[key] = value
    return merged


def _merge_all_of(schema: Mapping[str, Any], root: Any) -> Mapping[str, Any]:
    if "allOf" not in schema:
        return schema
    merged: Any = {k: v for k, v in schema.items() if k != "allOf"}
    for branch in schema["allOf"]:
        merged = _merge(merged, _merge_all_of(_resolve(branch, root), root))
    return merged  # type: ignore[no-any-return]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _types(schema: Mapping[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    values = _values(schema)
    if values is not None:
        return {_json_type(v) for v in values}
    return None


def _values(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _fmt(types: Iterable[str] | None) -> str:
    if types is None:
        return "any"
    items = sorted(types)
    return items[0] if len(items) == 1 else "[" + ", ".join(items) + "]"


def _show(value: Any) -> str:
    return "none" if value is None else repr(value)


# --- versions in a registry ---


def check_versions(
    registry: ContractRegistry,
    *,
    name: str | None = None,
    mode: str | None = None,
    transitive: bool = False,
    allow_major_breaks: bool = False,
) -> list[CompatibilityReport]:
    """Compatibility of each consecutive pair of versions of each message contract.

    ``mode`` overrides each newer version's declared ``compatibility`` (contracts that
    declare ``none`` are skipped unless a mode is given). ``transitive`` compares each
    version with every earlier one; ``allow_major_breaks`` skips pairs across a major bump.
    """
    if mode is not None:
        check_mode(mode, allow_none=False)
    reports: list[CompatibilityReport] = []
    names = [name] if name is not None else registry.names()
    for contract_name in names:
        versions = [v for v in registry.versions(contract_name) if isinstance(v, MessageContract)]
        for index, new in enumerate(versions):
            declared = mode or new.compatibility
            if index == 0 or declared == "none":
                continue
            earlier: Sequence[Any] = versions[:index] if transitive else versions[index - 1 : index]
            for old in earlier:
                if allow_major_breaks and old.semver.major != new.semver.major:
                    continue
                reports.append(check_compatibility(old, new, mode=declared))
    return reports


def assert_versions_compatible(
    registry: ContractRegistry,
    *,
    name: str | None = None,
    mode: str | None = None,
    transitive: bool = False,
    allow_major_breaks: bool = False,
) -> None:
    """Assert every consecutive pair of versions is compatible in its declared mode.

    One ``IK-CONTRACT-INCOMPATIBLE`` error lists every incompatible pair's problems.
    """
    if name is not None:
        registry.versions(name)  # IK-CONTRACT-NOT-FOUND for unknown names
    failed = [
        r
        for r in check_versions(
            registry, name=name, mode=mode, transitive=transitive, allow_major_breaks=allow_major_breaks
        )
        if not r.compatible
    ]
    if failed:
        modes = sorted({r.mode for r in failed})
        raise ContractError(
            ErrorCode.CONTRACT_INCOMPATIBLE,
            subject=", ".join(f"{r.old} -> {r.new}" for r in failed),
            mode="/".join(modes),
            problems="".join(f"\n    - {r.old} -> {r.new} {p}" for r in failed for p in r.problems),
            details=[p for r in failed for p in r.problems],
            reports=failed,
        )
