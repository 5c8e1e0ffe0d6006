"""Message contracts: definition checks, verification with JSON paths, Kafka-record predicates."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from integration_kit.contracts import (
    Example,
    MessageContract,
    Version,
    Violation,
    json_path,
    verify_message,
    verify_record,
    violations,
)
from integration_kit.errors import ContractDefinitionError, ContractError, ErrorCode, raises_code

pytestmark = [pytest.mark.unit, pytest.mark.contract]

Record = namedtuple("Record", "topic partition offset key value headers")

ORDER_VALUE = {
    "type": "object",
    "required": ["id", "items"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": ["NEW", "PAID"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
            },
        },
        "customer": {
            "type": "object",
            "required": ["email"],
            "properties": {"email": {"type": "string"}},
            "additionalProperties": False,
        },
    },
}


def order_contract(**overrides: Any) -> MessageContract:
    fields: dict[str, Any] = {
        "name": "order-created",
        "version": "1.0.0",
        "topic": "orders",
        "key": {"type": "string", "pattern": "^[0-9]+$"},
        "value": ORDER_VALUE,
        "headers": {"trace-id": {"type": "string", "minLength": 3}},
        "examples": [{"value": {"id": 1, "items": []}, "key": "1", "headers": {"trace-id": "abc"}}],
    }
    fields.update(overrides)
    return MessageContract(**fields)


def test_conforming_message_passes_and_has_no_violations() -> None:
    contract = order_contract()
    value = {"id": 7, "items": [{"sku": "A1", "qty": 2}], "customer": {"email": "a@b.test"}}
    verify_message(contract, value, key="7", headers={"trace-id": "abc"})
    assert contract.violations(value) == []
    assert contract.ref == "order-created@1.0.0"


def test_violation_names_the_json_path_of_every_problem() -> None:
    contract = order_contract()
    value = {"id": "x", "items": [{"sku": 1}], "customer": {"mail": "a@b.test"}}
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        verify_message(contract, value, key="abc", headers={})
    error = caught[0]
    assert isinstance(error, AssertionError)
    paths = [v.path for v in error.context["details"]]
    assert paths == [
        "$.customer.email",
        "$.customer.mail",
        "$.id",
        "$.items[0].qty",
        "$.items[0].sku",
        "key",
        'headers["trace-id"]',
    ]
    assert "$.items[0].sku" in str(error)
    assert error.context["contract"] == "order-created@1.0.0"


def test_key_and_headers_are_only_checked_when_given() -> None:
    contract = order_contract()
    verify_message(contract, {"id": 1, "items": []})
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        verify_message(contract, {"id": 1, "items": []}, headers={"trace-id": "ab"})
    assert [v.path for v in caught[0].context["details"]] == ['headers["trace-id"]']


def test_key_is_parsed_as_json_when_the_schema_needs_it() -> None:
    contract = order_contract(key={"type": "integer"}, examples=[])
    verify_message(contract, {"id": 1, "items": []}, key=b"42")
    with raises_code(ErrorCode.CONTRACT_VIOLATION):
        verify_message(contract, {"id": 1, "items": []}, key=b"forty-two")


def test_bytes_values_are_decoded_and_undecodable_ones_get_their_own_code() -> None:
    contract = order_contract()
    verify_message(contract, b'{"id": 1, "items": []}')
    with raises_code(ErrorCode.CONTRACT_UNDECODABLE) as caught:
        verify_message(contract, b"{not json")
    assert caught[0].context["part"] == "value"
    assert contract.violations(b"\xff")[0].rule == "decode"


def test_anyof_violation_reports_the_closest_alternative() -> None:
    contract = MessageContract(
        name="n",
        version="1.0.0",
        value={"anyOf": [{"type": "object", "required": ["a"]}, {"type": "string"}]},
    )
    found = contract.violations({"b": 1})
    assert found[0].path == "$" and "anyOf" in found[0].message and "$.a" in found[0].message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"version": "1.0"}, "semantic version"),
        ({"version": "01.0.0"}, "semantic version"),
        ({"value": {"type": "no-such-type"}}, "schema at"),
        ({"value": ["not", "a", "schema"]}, "must be an object"),
        ({"key": {"minLength": "three"}}, "key"),
        ({"headers": "trace-id"}, "headers must be"),
        ({"headers": {"trace-id": {"type": 3}}}, "header 'trace-id'"),
        ({"examples": [{"value": {"id": "one", "items": []}}]}, "example 0 breaks the contract"),
        ({"examples": [{"key": "1"}]}, "needs a 'value'"),
        ({"examples": [{"value": {"id": 1, "items": []}, "extra": 1}]}, "unknown field"),
        ({"name": ""}, "name is empty"),
    ],
)
def test_invalid_definitions_are_refused(fields: dict[str, Any], fragment: str) -> None:
    with raises_code(ErrorCode.CONTRACT_INVALID) as caught:
        order_contract(**fields)
    assert fragment in str(caught[0])
    assert isinstance(caught[0], ValueError)


def test_unknown_compatibility_mode_is_refused() -> None:
    with raises_code(ErrorCode.CONTRACT_UNKNOWN_MODE) as caught:
        order_contract(compatibility="sideways")
    assert "backward" in caught[0].hint


def test_from_dict_round_trips_and_refuses_unknown_fields() -> None:
    contract = order_contract(description="orders as created")
    again = MessageContract.from_dict(contract.to_dict())
    assert again.to_dict() == contract.to_dict()
    assert again.samples == (Example(value={"id": 1, "items": []}, key="1", headers={"trace-id": "abc"}),)
    with raises_code(ErrorCode.CONTRACT_INVALID):
        MessageContract.from_dict({**contract.to_dict(), "colour": "red"})
    with raises_code(ErrorCode.CONTRACT_INVALID):
        MessageContract.from_dict({"name": "x", "version": "1.0.0"})


def test_headers_as_a_list_of_names() -> None:
    contract = order_contract(headers=["trace-id", "tenant"], examples=[])
    assert contract.required_headers == {"trace-id": {}, "tenant": {}}
    found = contract.violations({"id": 1, "items": []}, headers=[("trace-id", b"x")])
    assert [v.path for v in found] == ['headers["tenant"]']


def test_records_are_verified_and_usable_as_predicates() -> None:
    contract = order_contract()
    good = Record("orders", 0, 5, b"7", b'{"id": 7, "items": []}', [("trace-id", b"abc")])
    no_header = good._replace(headers=[])
    bad_value = good._replace(value=b'{"id": "7"}')
    garbage = good._replace(value=b"\x00\x01")
    null_key = good._replace(key=None)
    assert contract.matches(good)
    assert not contract.matches(no_header)
    assert not contract.matches(bad_value)
    assert not contract.matches(garbage)
    assert not contract.matches(null_key), "a record's key is always checked"
    assert not contract.matches(object())
    assert contract.assert_matches(good) is True
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        contract.assert_matches(bad_value)
    assert caught[0].context["subject"] == "message on orders[0]@5"
    with raises_code(ErrorCode.CONTRACT_UNDECODABLE):
        verify_record(contract, garbage)


def test_topic_is_checked_on_request_with_worker_prefixes_allowed() -> None:
    contract = order_contract()
    record = Record("gw1.orders", 0, 0, b"7", b'{"id": 7, "items": []}', [("trace-id", b"abc")])
    contract.verify_record(record, check_topic=True)
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        contract.verify_record(record._replace(topic="payments"), check_topic=True)
    assert caught[0].context["details"][0] == Violation(
        "topic", "is 'payments', the contract's topic is 'orders'", "topic"
    )


def test_json_path_and_violations_helpers() -> None:
    assert json_path(["a", 0, "b c", "d"]) == '$.a[0]["b c"].d'
    assert violations({"type": "integer"}, 3) == []
    assert str(violations({"type": "integer"}, "3", root="key")[0]).startswith("key: ")


def test_semver_ordering() -> None:
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    parsed = [Version.parse(v) for v in reversed(ordered)]
    assert [str(v) for v in sorted(parsed)] == ordered
    assert Version.parse("1.0.0+build.5") == Version.parse("1.0.0")
    with pytest.raises(ContractDefinitionError):
        Version.parse(None)


def test_contract_error_is_an_assertion_error() -> None:
    assert issubclass(ContractError, AssertionError)
