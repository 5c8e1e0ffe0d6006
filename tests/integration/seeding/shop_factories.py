"""Factories over the shop schema of conftest.py, shared by the seeding tests."""

from __future__ import annotations

import factory

from integration_kit.seeding import PostgresFactory


class CustomerFactory(PostgresFactory):
    class Meta:
        table = "shop.customers"

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.test")


class OrderFactory(PostgresFactory):
    class Meta:
        table = "shop.orders"

    customer = factory.SubFactory(CustomerFactory)
    status = factory.Iterator(["new", "paid", "shipped"])


class OrderItemFactory(PostgresFactory):
    class Meta:
        table = "shop.order_items"

    order = factory.SubFactory(OrderFactory)
    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    quantity = factory.Faker("pyint", min_value=1, max_value=9)
