"""PostgreSQL access: the API stores orders, the worker reserves their stock."""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from orders.domain import NewOrder, PlacedOrder, Reservation


class UnknownProduct(LookupError):
    """The order names a SKU the catalogue does not have."""


class UnknownOrder(LookupError):
    """A message names an order the database does not have."""


class Store(Protocol):
    """What the worker needs from the database (an in-memory fake implements it in unit tests)."""

    async def reserve(self, order: PlacedOrder) -> Reservation: ...


class PostgresStore:
    """The service's tables through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str) -> PostgresStore:
        return cls(await asyncpg.create_pool(dsn, min_size=1, max_size=4))

    async def close(self) -> None:
        await self.pool.close()

    async def ping(self) -> None:
        await self.pool.fetchval("SELECT 1")

    async def place(self, order: NewOrder) -> PlacedOrder:
        try:
            order_id = await self.pool.fetchval(
                "INSERT INTO orders (customer, sku, quantity) VALUES ($1, $2, $3) RETURNING id",
                order.customer,
                order.sku,
                order.quantity,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise UnknownProduct(order.sku) from exc
        return PlacedOrder(id=order_id, customer=order.customer, sku=order.sku, quantity=order.quantity)

    async def order(self, order_id: int) -> dict[str, Any] | None:
        row = await self.pool.fetchrow(
            "SELECT id, customer, sku, quantity, status FROM orders WHERE id = $1", order_id
        )
        return dict(row) if row is not None else None

    async def reserve(self, order: PlacedOrder) -> Reservation:
        """Reserve stock for ``order`` once: a second call returns the first decision."""
        async with self.pool.acquire() as connection, connection.transaction():
            stored = await connection.fetchrow(
                "SELECT sku, quantity FROM orders WHERE id = $1 FOR UPDATE", order.id
            )
            if stored is None:
                raise UnknownOrder(order.id)
            if (stored["sku"], stored["quantity"]) != (order.sku, order.quantity):
                raise UnknownOrder(f"{order.id} (the message disagrees with the stored order)")
            done = await connection.fetchrow(
                "SELECT r.outcome, p.stock FROM reservations r JOIN products p USING (sku) "
                "WHERE r.order_id = $1",
                order.id,
            )
            if done is not None:
                return Reservation(order.id, order.sku, order.quantity, done["outcome"], done["stock"])
            stock = await connection.fetchval(
                "UPDATE products SET stock = stock - $2 WHERE sku = $1 AND stock >= $2 RETURNING stock",
                order.sku,
                order.quantity,
            )
            outcome = "confirmed" if stock is not None else "rejected"
            if stock is None:
                stock = await connection.fetchval("SELECT stock FROM products WHERE sku = $1", order.sku)
            await connection.execute(
                "INSERT INTO reservations (order_id, sku, quantity, outcome) VALUES ($1, $2, $3, $4)",
                order.id,
                order.sku,
                order.quantity,
                outcome,
            )
            await connection.execute("UPDATE orders SET status = $2 WHERE id = $1", order.id, outcome)
            return Reservation(order.id, order.sku, order.quantity, outcome, stock)
