"""What an order is, and how requests and messages are read (pure functions, no I/O)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

MAX_QUANTITY = 1000
MAX_CUSTOMER = 200


class InvalidOrder(ValueError):
    """A request or message that is not an order; ``errors`` says why, field by field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class NewOrder:
    """An order as a customer places it."""

    customer: str
    sku: str
    quantity: int


@dataclass(frozen=True)
class PlacedOrder:
    """An order stored by the API and published to ``orders``."""

    id: int
    customer: str
    sku: str
    quantity: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_new_order(body: Any) -> NewOrder:
    """Validate a ``POST /orders`` body."""
    if not isinstance(body, dict):
        raise InvalidOrder({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    customer, sku, quantity = body.get("customer"), body.get("sku"), body.get("quantity")
    if not isinstance(customer, str) or not 1 <= len(customer) <= MAX_CUSTOMER or "\x00" in customer:
        errors["customer"] = f"must be a string of 1 to {MAX_CUSTOMER} characters"
    if not isinstance(sku, str) or not sku or "\x00" in sku:
        errors["sku"] = "must be a non-empty string"
    if not _int(quantity) or not 1 <= quantity <= MAX_QUANTITY:
        errors["quantity"] = f"must be an integer from 1 to {MAX_QUANTITY}"
    unknown = sorted(set(body) - {"customer", "sku", "quantity"})
    if unknown:
        errors["body"] = f"unknown fields: {', '.join(map(str, unknown))}"
    if errors:
        raise InvalidOrder(errors)
    return NewOrder(customer=customer, sku=sku, quantity=quantity)


def read_placed_order(value: bytes | None) -> PlacedOrder:
    """Decode an ``orders`` message; :class:`InvalidOrder` for anything else."""
    if value is None:
        raise InvalidOrder({"value": "is empty (a tombstone)"})
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidOrder({"value": f"is not JSON ({exc})"}) from exc
    if not isinstance(data, dict):
        raise InvalidOrder({"value": "must be a JSON object"})
    order_id = data.get("id")
    errors: dict[str, str] = {}
    if not _int(order_id) or order_id <= 0 or order_id >= 2**63:
        errors["id"] = "must be a positive 64-bit integer"
    try:
        new = read_new_order({k: v for k, v in data.items() if k != "id"})
    except InvalidOrder as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidOrder(errors)
    return PlacedOrder(id=order_id, customer=new.customer, sku=new.sku, quantity=new.quantity)


@dataclass(frozen=True)
class Reservation:
    """What the worker decided for an order: ``confirmed`` (stock reserved) or ``rejected``."""

    order_id: int
    sku: str
    quantity: int
    outcome: str
    stock_left: int | None = None

    def confirmed_event(self) -> dict[str, Any]:
        """The ``orders.confirmed`` message (see :mod:`orders.contracts`)."""
        return {
            "id": self.order_id,
            "sku": self.sku,
            "quantity": self.quantity,
            "status": self.outcome,
            "stock_left": self.stock_left,
        }
