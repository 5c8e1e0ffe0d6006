"""The service's contracts: versions stay compatible, consumers get what they read, the
live API answers as promised."""

from __future__ import annotations

import json

import pytest
from orders.contracts import ORDER_CONFIRMED, ORDER_CONFIRMED_V1, ORDERS_API, REGISTRY
from orders.domain import PlacedOrder

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase
from integration_kit.contracts import (
    ConsumerExpectation,
    assert_versions_compatible,
    averify_http,
    check_compatibility,
    verify_provider,
)
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks import MockKafkaCluster, MockRedisClient, VirtualClock
from tests.e2e.services import API, MIGRATIONS, TOPICS
from tests.factories import catalog
from tests.unit.fakes import InMemoryStore
from tests.unit.test_worker_unit import new_cluster, publish, run_worker

pytestmark = pytest.mark.contract

#: What the service's consumers have published about what they read.
SHIPPING = ConsumerExpectation(
    consumer="shipping",
    contract="order-confirmed",
    fields={"id": "integer", "sku": "string", "quantity": "integer", "status": "string"},
    headers=["content-type"],
)
INVENTORY_DASHBOARD = ConsumerExpectation(
    consumer="inventory-dashboard",
    contract="order-confirmed",
    fields={"sku": "string", "stock_left": {"type": ["integer", "null"], "optional": True}},
)


def test_every_version_is_backward_compatible_with_the_last() -> None:
    assert_versions_compatible(REGISTRY)
    assert check_compatibility(ORDER_CONFIRMED_V1, ORDER_CONFIRMED, mode="backward").compatible


def test_making_stock_left_required_would_break_readers_of_old_messages() -> None:
    value = ORDER_CONFIRMED.value
    stricter = {**value, "required": [*value["required"], "stock_left"]}
    with raises_code(ErrorCode.CONTRACT_INCOMPATIBLE):
        check_compatibility(ORDER_CONFIRMED_V1.value, stricter, mode="backward").raise_for_problems()


async def test_what_the_worker_publishes_gives_every_consumer_what_it_reads() -> None:
    cluster: MockKafkaCluster = new_cluster()
    orders = [PlacedOrder(id=n, customer="ada", sku="A1", quantity=4) for n in (1, 2, 3)]
    await publish(cluster, *(order.to_json() for order in orders))
    await run_worker(
        cluster, InMemoryStore({"A1": 10}, orders), MockRedisClient(clock=VirtualClock()), until=3
    )
    records = cluster.records("orders.confirmed")
    assert [json.loads(r.value)["status"] for r in records] == ["confirmed", "confirmed", "rejected"]
    report = verify_provider(
        ORDER_CONFIRMED, [SHIPPING, INVENTORY_DASHBOARD], messages=records, provider="orders-worker"
    )
    assert report.ok, report.render()


class TestOrdersApiContract(KafkaTestCase, PostgresTestCase, RedisTestCase):
    kafka_topics = TOPICS
    postgres_migrations = MIGRATIONS
    postgres_seed = [catalog]
    postgres_isolation = "swap"
    services = [API]

    async def test_the_running_api_keeps_its_http_contract(self) -> None:
        (await averify_http(ORDERS_API, self.api.url)).raise_for_failures()
