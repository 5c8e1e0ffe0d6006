"""Test data for the order service: the kit's async factories and scenarios.

- ``ProductFactory``, ``OrderFactory``: rows (``await F.create(...)`` in a test or a
  scenario writes to the test's or the snapshot's database).
- ``PlacedOrderMessageFactory``: ``orders`` messages as the API publishes them, validated
  against the service's own contract before they are sent.
- ``catalog``, ``open_orders``: the scenarios the test classes seed their snapshots with.
"""

from __future__ import annotations

from typing import Any

import factory
from orders.contracts import ORDER_PLACED

from integration_kit.seeding import KafkaMessageFactory, PostgresFactory, scenario


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
    sku = "A1"
    quantity = factory.Faker("pyint", min_value=1, max_value=3)


class PlacedOrderMessageFactory(KafkaMessageFactory):
    class Meta:
        topic = "orders"
        key = lambda record: str(record["id"])  # noqa: E731 - factory_boy Meta option
        headers = {"content-type": "application/json"}
        validate = ORDER_PLACED.value

    id = factory.Sequence(lambda n: n + 1)
    customer = factory.Faker("user_name")
    sku = "A1"
    quantity = 1


#: The catalogue every test starts from: A1 with 10 in stock, B2 with 1, C3 sold out,
#: and 20 more products.
CATALOG_STOCK = {"A1": 10, "B2": 1, "C3": 0}


@scenario
async def catalog(ctx: Any) -> list[dict[str, Any]]:
    named = [await ProductFactory.create(sku=sku, stock=stock) for sku, stock in CATALOG_STOCK.items()]
    return named + await ProductFactory.create_batch(20)


@scenario("open_orders", requires=[catalog])
async def open_orders(ctx: Any) -> list[dict[str, Any]]:
    """Three pending orders of A1 by one customer (needs :func:`catalog`)."""
    return await OrderFactory.create_batch(3, sku="A1", customer="grace", quantity=1)
