"""The service's contracts: what it publishes and what its HTTP API answers.

``ORDER_CONFIRMED`` is what consumers of ``orders.confirmed`` rely on; a change to it
must stay backward compatible with ``ORDER_CONFIRMED_V1`` (checked by the contract tests).
"""

from __future__ import annotations

from integration_kit.contracts import ContractRegistry, HttpContract, HttpInteraction, MessageContract

_ID = {"type": "integer", "minimum": 1}
_SKU = {"type": "string", "minLength": 1}
_QUANTITY = {"type": "integer", "minimum": 1, "maximum": 1000}

ORDER_PLACED = MessageContract(
    name="order-placed",
    version="1.0.0",
    topic="orders",
    key={"type": "string", "pattern": "^[0-9]+$"},
    value={
        "type": "object",
        "required": ["id", "customer", "sku", "quantity"],
        "additionalProperties": False,
        "properties": {
            "id": _ID,
            "customer": {"type": "string", "minLength": 1},
            "sku": _SKU,
            "quantity": _QUANTITY,
        },
    },
    headers={"content-type": {"const": "application/json"}},
    examples=[
        {
            "value": {"id": 1, "customer": "ada", "sku": "A1", "quantity": 2},
            "key": "1",
            "headers": {"content-type": "application/json"},
        }
    ],
)

ORDER_CONFIRMED_V1 = MessageContract(
    name="order-confirmed",
    version="1.0.0",
    topic="orders.confirmed",
    key={"type": "string", "pattern": "^[0-9]+$"},
    value={
        "type": "object",
        "required": ["id", "sku", "quantity", "status"],
        "properties": {
            "id": _ID,
            "sku": _SKU,
            "quantity": _QUANTITY,
            "status": {"enum": ["confirmed", "rejected"]},
        },
    },
    headers={"content-type": {"const": "application/json"}},
    examples=[
        {
            "value": {"id": 1, "sku": "A1", "quantity": 2, "status": "confirmed"},
            "key": "1",
            "headers": {"content-type": "application/json"},
        }
    ],
)

ORDER_CONFIRMED = MessageContract(
    name="order-confirmed",
    version="1.1.0",  # adds stock_left: optional, so 1.0.0 messages still satisfy it
    topic="orders.confirmed",
    key={"type": "string", "pattern": "^[0-9]+$"},
    value={
        "type": "object",
        "required": ["id", "sku", "quantity", "status"],
        "properties": {
            "id": _ID,
            "sku": _SKU,
            "quantity": _QUANTITY,
            "status": {"enum": ["confirmed", "rejected"]},
            "stock_left": {"type": ["integer", "null"], "minimum": 0},
        },
    },
    headers={"content-type": {"const": "application/json"}},
    examples=[
        {
            "value": {"id": 1, "sku": "A1", "quantity": 2, "status": "confirmed", "stock_left": 8},
            "key": "1",
            "headers": {"content-type": "application/json"},
        }
    ],
)

ORDERS_API = HttpContract(
    name="orders-api",
    version="1.0.0",
    interactions=[
        HttpInteraction(
            name="place an order",
            method="POST",
            path="/orders",
            request_body={"customer": "ada", "sku": "A1", "quantity": 1},
            request_schema={"type": "object", "required": ["customer", "sku", "quantity"]},
            status=201,
            response_schema={
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": _ID, "status": {"const": "pending"}},
            },
            response_headers={"Location": {"type": "string", "pattern": "^/orders/[0-9]+$"}},
        ),
        HttpInteraction(
            name="refuse a body that is not an order",
            method="POST",
            path="/orders",
            request_body={"customer": "", "sku": "A1", "quantity": 0},
            status=400,
            response_schema={"type": "object", "required": ["errors"]},
        ),
        HttpInteraction(name="unknown order", method="GET", path="/orders/999999999", status=404),
        HttpInteraction(name="health", method="GET", path="/health", status=200),
    ],
)

#: Every version of the service's message contracts, for the versioning tests.
REGISTRY = ContractRegistry([ORDER_PLACED, ORDER_CONFIRMED_V1, ORDER_CONFIRMED])
