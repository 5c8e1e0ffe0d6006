"""An in-memory :class:`orders.store.Store` for unit tests: the same decisions as PostgresStore."""

from __future__ import annotations

from orders.domain import PlacedOrder, Reservation
from orders.store import UnknownOrder


class InMemoryStore:
    def __init__(self, stock: dict[str, int], orders: list[PlacedOrder]) -> None:
        self.stock = dict(stock)
        self.orders = {order.id: order for order in orders}
        self.reservations: dict[int, Reservation] = {}

    async def reserve(self, order: PlacedOrder) -> Reservation:
        stored = self.orders.get(order.id)
        if stored is None or (stored.sku, stored.quantity) != (order.sku, order.quantity):
            raise UnknownOrder(order.id)
        if order.id in self.reservations:
            done = self.reservations[order.id]
            return Reservation(order.id, order.sku, order.quantity, done.outcome, self.stock[order.sku])
        left = self.stock[order.sku] - order.quantity
        outcome = "confirmed" if left >= 0 else "rejected"
        if left >= 0:
            self.stock[order.sku] = left
        reservation = Reservation(order.id, order.sku, order.quantity, outcome, self.stock[order.sku])
        self.reservations[order.id] = reservation
        return reservation
