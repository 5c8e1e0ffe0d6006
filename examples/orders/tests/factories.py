"""Test data for the order service: factories over its tables and the scenarios tests seed."""

from __future__ import annotations

from typing import Any

import factory

from integration_kit.seeding import PostgresFactory, ScenarioContext, scenario


class ProductFactory(PostgresFactory):
    class Meta:
        table = "products"

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Faker("catch_phrase")
    price_cents = factory.Faker("pyint", min_value=100, max_value=99_00)
    stock = 10


class OrderFactory(PostgresFactory):
    class Meta:
        table = "orders"

    customer = factory.Faker("user_name")
    sku = factory.SubFactory(ProductFactory)  # orders.sku references products.sku
    quantity = factory.Faker("pyint", min_value=1, max_value=3)


#: The catalogue every test starts from: A1 with 10 in stock, B2 with 1, C3 sold out,
#: and 20 more products.
CATALOG_STOCK = {"A1": 10, "B2": 1, "C3": 0}


@scenario
async def catalog(ctx: ScenarioContext) -> list[dict[str, Any]]:
    named = [await ProductFactory.create(sku=sku, stock=stock) for sku, stock in CATALOG_STOCK.items()]
    return named + await ProductFactory.create_batch(20)


@scenario("open_orders", requires=["catalog"])
async def open_orders(ctx: ScenarioContext) -> list[dict[str, Any]]:
    """Three pending orders of A1 by one customer (on top of :func:`catalog`)."""
    a1 = next(product for product in ctx["catalog"] if product["sku"] == "A1")
    return await OrderFactory.create_batch(3, sku=a1, customer="grace", quantity=1)
