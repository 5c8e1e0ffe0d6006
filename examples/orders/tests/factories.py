"""Test data for the order service: factory_boy factories and seeded scenarios."""

from __future__ import annotations

from typing import Any

import factory

from integration_kit.seeding import TableFactory, scenario


class ProductFactory(TableFactory):
    class Meta:
        table = "products"

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Faker("catch_phrase")
    price_cents = factory.Faker("pyint", min_value=100, max_value=99_00)
    stock = 10


class OrderFactory(TableFactory):
    class Meta:
        table = "orders"

    customer = factory.Faker("user_name")
    quantity = factory.Faker("pyint", min_value=1, max_value=3)


#: The catalogue every test starts from: A1 with 10 in stock, B2 with 1, C3 sold out,
#: and 20 more products.
CATALOG_STOCK = {"A1": 10, "B2": 1, "C3": 0}


@scenario(seed=16)
async def catalog(connection: Any) -> list[dict[str, Any]]:
    named = [
        await ProductFactory.insert_one(connection, sku=sku, stock=stock)
        for sku, stock in CATALOG_STOCK.items()
    ]
    return named + await ProductFactory.insert(connection, size=20)


@scenario(seed=16)
async def open_orders(connection: Any) -> list[dict[str, Any]]:
    """Three pending orders of A1 by one customer (on top of :func:`catalog`)."""
    return await OrderFactory.insert(connection, size=3, sku="A1", customer="grace", quantity=1)
