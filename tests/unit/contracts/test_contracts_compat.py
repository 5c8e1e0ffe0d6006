"""Schema compatibility: each kind of change in each mode, and the versions helper."""

from __future__ import annotations

from typing import Any

import pytest

from integration_kit.contracts import (
    ContractRegistry,
    MessageContract,
    assert_versions_compatible,
    check_compatibility,
    check_versions,
)
from integration_kit.errors import ErrorCode, raises_code

pytestmark = [pytest.mark.unit, pytest.mark.contract]


def obj(required: list[str] | None = None, closed: bool = False, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required or []}
    if closed:
        schema["additionalProperties"] = False
    return schema


BASE = obj(["id"], id={"type": "integer"}, status={"enum": ["NEW", "PAID"]}, note={"type": "string"})


def kinds(old: Any, new: Any, mode: str) -> list[tuple[str, str, str]]:
    return [(p.path, p.kind, p.direction) for p in check_compatibility(old, new, mode=mode).problems]


def test_identical_schemas_are_fully_compatible() -> None:
    report = check_compatibility(BASE, BASE, mode="full")
    assert report and report.compatible and report.problems == []
    assert report.render().endswith(": compatible")


def test_optional_field_added_or_removed_is_compatible_both_ways() -> None:
    added = {**BASE, "properties": {**BASE["properties"], "extra": {"type": "string"}}}
    assert kinds(BASE, added, "full") == []
    removed = {**BASE, "properties": {k: v for k, v in BASE["properties"].items() if k != "note"}}
    assert kinds(BASE, removed, "full") == []


def test_required_field_added_without_default_breaks_backward_only() -> None:
    new = {
        **BASE,
        "required": ["id", "currency"],
        "properties": {**BASE["properties"], "currency": {"type": "string"}},
    }
    assert kinds(BASE, new, "backward") == [("$.currency", "required-added", "backward")]
    assert kinds(BASE, new, "forward") == []
    with_default = {
        **new,
        "properties": {**new["properties"], "currency": {"type": "string", "default": "EUR"}},
    }
    assert kinds(BASE, with_default, "full") == []


def test_required_field_removed_breaks_forward_only() -> None:
    new = obj([], status={"enum": ["NEW", "PAID"]}, note={"type": "string"})
    assert kinds(BASE, new, "forward") == [("$.id", "required-removed", "forward")]
    assert kinds(BASE, new, "backward") == []
    relaxed = {**BASE, "required": []}
    assert kinds(BASE, relaxed, "forward") == [("$.id", "required-relaxed", "forward")]


def test_type_changed_breaks_both_ways_and_widening_only_forward() -> None:
    changed = {**BASE, "properties": {**BASE["properties"], "id": {"type": "string"}}}
    assert kinds(BASE, changed, "full") == [
        ("$.id", "type-changed", "backward"),
        ("$.id", "type-changed", "forward"),
    ]
    widened = {**BASE, "properties": {**BASE["properties"], "id": {"type": "number"}}}
    assert kinds(BASE, widened, "backward") == []
    assert kinds(BASE, widened, "forward") == [("$.id", "type-changed", "forward")]
    nullable = {**BASE, "properties": {**BASE["properties"], "id": {"type": ["integer", "null"]}}}
    assert kinds(BASE, nullable, "backward") == []
    assert kinds(nullable, BASE, "backward") == [("$.id", "type-changed", "backward")]
    message = check_compatibility(BASE, changed, mode="backward").problems[0].message
    assert message.startswith("type changed from integer to string")


def test_enum_narrowed_breaks_backward_and_widened_breaks_forward() -> None:
    narrowed = {**BASE, "properties": {**BASE["properties"], "status": {"enum": ["NEW"]}}}
    assert kinds(BASE, narrowed, "full") == [("$.status", "enum-narrowed", "backward")]
    assert "'PAID'" in check_compatibility(BASE, narrowed).problems[0].message
    widened = {**BASE, "properties": {**BASE["properties"], "status": {"enum": ["NEW", "PAID", "VOID"]}}}
    assert kinds(BASE, widened, "full") == [("$.status", "enum-widened", "forward")]
    added = {**BASE, "properties": {**BASE["properties"], "note": {"type": "string", "enum": ["a"]}}}
    assert kinds(BASE, added, "backward") == [("$.note", "enum-added", "backward")]


def test_closing_an_object_and_adding_fields_to_a_closed_one() -> None:
    closed = {**BASE, "additionalProperties": False}
    assert kinds(BASE, closed, "backward") == [("$", "closed", "backward")]
    more = {**closed, "properties": {**BASE["properties"], "extra": {"type": "string"}}}
    assert kinds(closed, more, "forward") == [("$.extra", "field-not-allowed", "forward")]
    fewer = {**closed, "properties": {"id": {"type": "integer"}, "status": {"enum": ["NEW", "PAID"]}}}
    assert kinds(closed, fewer, "backward") == [("$.note", "field-not-allowed", "backward")]


def test_bounds_and_patterns() -> None:
    old = obj(["qty"], qty={"type": "integer", "minimum": 1, "maximum": 10}, code={"type": "string"})
    tighter = obj(
        ["qty"],
        qty={"type": "integer", "minimum": 2, "maximum": 10},
        code={"type": "string", "pattern": "^A"},
    )
    assert kinds(old, tighter, "backward") == [
        ("$.code", "constraint-tightened", "backward"),
        ("$.qty", "bound-tightened", "backward"),
    ]
    assert kinds(old, tighter, "forward") == []
    looser = obj(["qty"], qty={"type": "integer", "minimum": 1}, code={"type": "string"})
    assert kinds(old, looser, "forward") == [("$.qty", "bound-loosened", "forward")]
    assert (
        "maximum loosened from 10 to none"
        in check_compatibility(old, looser, mode="forward").problems[0].message
    )


def test_nested_arrays_refs_and_alternatives() -> None:
    old = {
        "$defs": {"item": obj(["sku"], sku={"type": "string"})},
        **obj(["items"], items={"type": "array", "items": {"$ref": "#/$defs/item"}}),
    }
    new = obj(["items"], items={"type": "array", "items": obj(["sku"], sku={"type": "integer"})})
    assert kinds(old, new, "backward") == [("$.items[*].sku", "type-changed", "backward")]
    either = obj(["id"], id={"anyOf": [{"type": "integer"}, {"type": "string"}]})
    assert kinds(obj(["id"], id={"type": "integer"}), either, "backward") == []
    problems = kinds(either, obj(["id"], id={"type": "integer"}), "backward")
    assert ("$.id", "type-changed", "backward") in problems
    merged = {"allOf": [obj(["id"], id={"type": "integer"}), obj(["name"], name={"type": "string"})]}
    assert kinds(merged, obj(["id", "name"], id={"type": "integer"}, name={"type": "string"}), "full") == []
    no_alternative = obj(["id"], id={"oneOf": [{"type": "boolean"}, {"type": "null"}]})
    assert ("$.id", "alternatives", "backward") in kinds(BASE, no_alternative, "backward")


def test_boolean_and_empty_schemas() -> None:
    assert kinds(BASE, True, "backward") == []
    assert kinds(BASE, {}, "backward") == []
    assert kinds(BASE, False, "backward") == [("$", "rejects-all", "backward")]
    assert kinds({}, {"type": "object"}, "backward") == [("$", "type-restricted", "backward")]


def contract(version: str, value: dict[str, Any], **extra: Any) -> MessageContract:
    return MessageContract(name="order-created", version=version, value=value, **extra)


def test_message_contracts_compare_value_key_and_headers() -> None:
    old = contract("1.0.0", BASE, headers=["trace-id"], key={"type": "string"})
    new = contract("1.1.0", BASE, headers=["trace-id", "tenant"], key={"type": "integer"})
    report = check_compatibility(old, new, mode="full")
    assert {(p.path, p.kind) for p in report.problems} == {
        ("key", "type-changed"),
        ('headers["tenant"]', "header-required"),
    }
    assert report.old == "order-created@1.0.0" and report.new == "order-created@1.1.0"
    back = check_compatibility(new, old, mode="forward")
    assert [p.kind for p in back.problems if p.path.startswith("headers")] == ["header-required"]


def test_unknown_mode_and_incompatible_report_raise_coded_errors() -> None:
    with raises_code(ErrorCode.CONTRACT_UNKNOWN_MODE):
        check_compatibility(BASE, BASE, mode="sideways")
    with raises_code(ErrorCode.CONTRACT_UNKNOWN_MODE):
        check_compatibility(BASE, BASE, mode="none")
    changed = {**BASE, "properties": {**BASE["properties"], "id": {"type": "string"}}}
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE) as caught:
        check_compatibility(BASE, changed, mode="backward").raise_for_problems()
    assert "$.id" in str(caught[0]) and caught[0].context["mode"] == "backward"
    check_compatibility(BASE, BASE).raise_for_problems()


def registry_of(*contracts: MessageContract) -> ContractRegistry:
    return ContractRegistry(contracts)


def test_versions_helper_checks_consecutive_pairs_in_declared_modes() -> None:
    v1 = contract("1.0.0", BASE)
    v2 = contract("1.1.0", {**BASE, "properties": {**BASE["properties"], "extra": {"type": "string"}}})
    v3 = contract("1.2.0", {**BASE, "properties": {**BASE["properties"], "status": {"enum": ["NEW"]}}})
    assert_versions_compatible(registry_of(v2, v1))
    registry = registry_of(v3, v1, v2)
    reports = check_versions(registry)
    assert [(r.old, r.new, r.compatible) for r in reports] == [
        ("order-created@1.0.0", "order-created@1.1.0", True),
        ("order-created@1.1.0", "order-created@1.2.0", False),
    ]
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE) as caught:
        assert_versions_compatible(registry)
    assert "order-created@1.1.0 -> order-created@1.2.0" in caught[0].context["subject"]
    assert "enum narrowed" in str(caught[0])
    assert len(check_versions(registry, transitive=True)) == 3


def test_versions_helper_honours_none_mode_and_major_bumps() -> None:
    v1 = contract("1.0.0", BASE)
    breaking = {**BASE, "properties": {**BASE["properties"], "id": {"type": "string"}}}
    assert_versions_compatible(registry_of(v1, contract("1.1.0", breaking, compatibility="none")))
    v2 = contract("2.0.0", breaking)
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE):
        assert_versions_compatible(registry_of(v1, v2))
    assert_versions_compatible(registry_of(v1, v2), allow_major_breaks=True)
    forward_only = contract("1.1.0", {**BASE, "required": ["id", "note"]}, compatibility="forward")
    assert_versions_compatible(registry_of(v1, forward_only))
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE):
        assert_versions_compatible(registry_of(v1, forward_only), mode="backward")
    with raises_code(ErrorCode.CONTRACT_NOT_FOUND):
        assert_versions_compatible(registry_of(v1), name="payments")


def test_only_schemas_or_message_contracts_are_compared() -> None:
    with raises_code(ErrorCode.CONTRACT_INVALID):
        check_compatibility(BASE, contract("1.0.0", BASE))
    with raises_code(ErrorCode.CONTRACT_INVALID):
        check_compatibility("not a schema", BASE)  # type: ignore[arg-type]


def test_recursive_schemas_terminate_and_shared_definitions_are_checked_everywhere() -> None:
    tree = {
        "$defs": {
            "node": obj(
                ["name"],
                name={"type": "string"},
                children={"type": "array", "items": {"$ref": "#/$defs/node"}},
            )
        },
        "$ref": "#/$defs/node",
    }
    assert kinds(tree, tree, "full") == []
    renamed = {
        "$defs": {
            "node": {
                **tree["$defs"]["node"],
                "properties": {
                    "name": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "$ref": "#/$defs/node",
    }
    assert ("$.name", "type-changed", "backward") in kinds(tree, renamed, "backward")
    shared = {
        "$defs": {"money": {"type": "integer"}},
        **obj(["a", "b"], a={"$ref": "#/$defs/money"}, b={"$ref": "#/$defs/money"}),
    }
    changed = {
        "$defs": {"money": {"type": "string"}},
        **obj(["a", "b"], a={"$ref": "#/$defs/money"}, b={"$ref": "#/$defs/money"}),
    }
    assert [p for p, _, _ in kinds(shared, changed, "backward")] == ["$.a", "$.b"]
