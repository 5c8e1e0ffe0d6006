"""Consumer-driven contracts: expectations, and the provider's verification of them."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from integration_kit.contracts import ConsumerExpectation, MessageContract, ProviderFailure, verify_provider
from integration_kit.errors import ErrorCode, raises_code

pytestmark = [pytest.mark.unit, pytest.mark.contract]

Record = namedtuple("Record", "topic partition offset key value headers")

CONTRACT = MessageContract(
    name="order-created",
    version="1.2.0",
    value={
        "type": "object",
        "required": ["id", "items", "total"],
        "properties": {
            "id": {"type": "integer"},
            "total": {"type": "number"},
            "note": {"type": ["string", "null"]},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sku"],
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                },
            },
            "customer": {"$ref": "#/$defs/customer"},
        },
        "$defs": {
            "customer": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}
        },
    },
    headers=["trace-id"],
    examples=[{"value": {"id": 1, "items": [{"sku": "A"}], "total": 9.5}, "headers": {"trace-id": "t"}}],
)


def expectation(consumer: str = "billing", **fields: Any) -> ConsumerExpectation:
    return ConsumerExpectation(consumer=consumer, contract="order-created", fields=fields)


def test_satisfied_expectations_give_an_ok_report() -> None:
    billing = ConsumerExpectation(
        consumer="billing",
        contract="order-created",
        fields={
            "id": "integer",
            "total": "number",
            "items[].sku": "string",
            "note": {"type": ["string", "null"], "optional": True},
        },
        headers=["trace-id"],
    )
    shipping = expectation("shipping", **{"items[].qty": {"type": "integer", "optional": True}})
    other = ConsumerExpectation(consumer="x", contract="payments", fields={"amount": "number"})
    messages = [
        {"id": 2, "items": [{"sku": "B", "qty": 1}], "total": 3},
        b'{"id": 3, "items": [], "total": 0.5, "note": null}',
        Record("orders", 0, 0, None, b'{"id": 4, "items": [{"sku": "C"}], "total": 1}', [("trace-id", b"x")]),
    ]
    report = verify_provider(
        CONTRACT, [billing, shipping, other], messages=messages, provider="order-service"
    )
    assert report.ok, report.render()
    assert report.consumers == ["billing", "shipping"]
    assert report.messages == 3
    report.raise_for_failures()
    assert "all expectations hold" in report.render()


def test_contract_level_failures_name_consumer_and_field() -> None:
    report = verify_provider(
        CONTRACT,
        [
            expectation(
                id="string",
                discount="number",
                note={"type": "string", "optional": True},
                **{
                    "items[].qty": "integer",
                    "customer.email": "string",
                    "total": "integer",
                    "id.x": "string",
                },
            ),
        ],
        include_examples=False,
    )
    problems = {f.field: f.problem for f in report.failures if f.where == "contract"}
    assert problems == {
        "id": "$.id may be integer in the contract; consumer expects string",
        "discount": "$.discount is not declared by the contract",
        "note": "$.note may be null in the contract; consumer expects string",
        "items[].qty": "$.items[*].qty is optional in the contract; consumer requires it",
        "customer.email": "$.customer is optional in the contract; consumer requires it",
        "total": "$.total may be number in the contract; consumer expects integer",
        "id.x": "$.id is integer in the contract; consumer reads $.id.x",
    }


def test_optional_fields_may_be_absent_but_must_keep_their_type() -> None:
    ok = expectation(**{"customer.email": {"type": "string", "optional": True}})
    assert verify_provider(CONTRACT, [ok], messages=[{"id": 1, "items": [], "total": 1}])
    wrong = expectation(**{"customer.email": {"type": "integer", "optional": True}})
    report = verify_provider(CONTRACT, [wrong], include_examples=False)
    assert [f.problem for f in report.failures] == [
        "$.customer.email may be string in the contract; consumer expects integer"
    ]


def test_message_level_failures_point_at_the_message_and_path() -> None:
    reads = expectation(**{"items[].sku": "string", "id": "integer"})
    messages = [
        {"id": 1, "items": [{"sku": "A"}, {"qty": 1}], "total": 1},
        {"id": "2", "items": [], "total": 1},
    ]
    report = verify_provider(CONTRACT, [reads], messages=messages)
    assert not report
    by_where = [(f.consumer, f.where, f.problem) for f in report.failures]
    assert ("billing", "message 0", "$.items[1].sku is missing") in by_where
    assert ("billing", "message 1", '$.id is string ("2"); consumer expects integer') in by_where
    own = [f for f in report.failures if f.consumer == "(contract)"]
    assert [f.where for f in own] == ["message 0", "message 1"]
    assert str(own[0]).startswith("message 0 breaks order-created@1.2.0: $.items[1].sku")


def test_headers_consumers_read_must_be_required_and_present() -> None:
    reads = ConsumerExpectation(
        consumer="audit", contract="order-created", fields={}, headers=["trace-id", "tenant"]
    )
    record = Record("orders", 0, 0, None, b'{"id": 1, "items": [], "total": 1}', [])
    report = verify_provider(CONTRACT, [reads], messages=[record], include_examples=False)
    assert [(f.field, f.where) for f in report.failures if f.consumer == "audit"] == [
        ("header 'tenant'", "contract"),
        ("header 'trace-id'", "message 0"),
        ("header 'tenant'", "message 0"),
    ]


def test_undecodable_messages_are_failures() -> None:
    report = verify_provider(
        CONTRACT, [expectation(id="integer")], messages=[b"\x00"], include_examples=False
    )
    assert report.failures == [ProviderFailure("(contract)", "$", "message 0", report.failures[0].problem)]
    assert report.failures[0].problem.startswith("not decodable")


def test_raise_for_failures_lists_every_failure() -> None:
    report = verify_provider(CONTRACT, [expectation(discount="number"), expectation("ship", zone="string")])
    with raises_code(ErrorCode.CONTRACT_PROVIDER_FAILED) as caught:
        report.raise_for_failures()
    assert caught[0].context["count"] == len(report.failures) == 4
    assert "billing reads discount" in str(caught[0]) and "ship reads zone" in str(caught[0])


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "int"},
        {"id": []},
        {"id": {"kind": "string"}},
        {"a..b": "string"},
        {"items[.sku": "string"},
        {},
    ],
)
def test_invalid_expectations_are_refused(fields: dict[str, Any]) -> None:
    with raises_code(ErrorCode.CONTRACT_INVALID):
        ConsumerExpectation(consumer="c", contract="order-created", fields=fields)


def test_expectation_round_trips_through_its_dict_form() -> None:
    original = ConsumerExpectation(
        consumer="c",
        contract="order-created",
        fields={
            "id": "integer",
            "note": ["string", "null"],
            "items[].qty": {"type": "integer", "optional": True},
        },
        headers=["trace-id"],
    )
    again = ConsumerExpectation.from_dict(original.to_dict())
    assert again.field_expectations == original.field_expectations
    assert again.headers == ("trace-id",)
    with raises_code(ErrorCode.CONTRACT_INVALID):
        ConsumerExpectation.from_dict(
            {"consumer": "c", "contract": "x", "fields": {"a": "string"}, "extra": 1}
        )
