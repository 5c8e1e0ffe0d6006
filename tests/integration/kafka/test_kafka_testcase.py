"""KafkaTestCase driven through the hook protocol, as the plugin drives it.

``_run_class`` mirrors the plugin's fixtures: ``ik_setup_class`` on a fresh instance,
then per test a new instance with ``ik_setup`` ... ``ik_teardown``, and the class
context's exit stack closed at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import TopicSpec
from integration_kit.kafka.admin import admin_client, describe_topics_everywhere
from integration_kit.kafka.testcase import KafkaTestCase
from integration_kit.services.base import Endpoint, ServiceSpec
from integration_kit.services.namespace import Namespace
from integration_kit.testcase import ClassContext

pytestmark = pytest.mark.integration

Test = Callable[[Any], Awaitable[None]]


class _Endpoints:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        assert spec.kind == "kafka"
        return self._endpoint


async def _run_class(
    cls: type[KafkaTestCase], endpoint: Endpoint, tests: Sequence[Test], *, worker: str = "main"
) -> None:
    ctx = ClassContext(services=_Endpoints(endpoint), namespace=Namespace(worker), owner=cls)
    async with ctx.exit_stack:
        await cls().ik_setup_class(ctx)
        for test in tests:
            instance = cls()
            await instance.ik_setup(ctx)
            try:
                await test(instance)
            finally:
                await instance.ik_teardown(ctx)


async def _existing(servers: str, names: Sequence[str]) -> set[str]:
    async with admin_client(servers) as admin:
        views = await describe_topics_everywhere(admin, list(names))
    return {name for view in views.values() for name, info in view.items() if info.exists}


def _stem() -> str:
    return f"ik-test.case.{uuid.uuid4().hex[:8]}"


async def test_class_scope_recreates_once_and_isolates_tests_by_offset(ik_kafka: Endpoint) -> None:
    stem = _stem()

    class Orders(KafkaTestCase):
        kafka_topics = {f"{stem}.orders": 3, f"{stem}.dlq": 1}

    seen: dict[str, Any] = {}

    async def first(self: Orders) -> None:
        seen["real"] = self.kafka.topic(f"{stem}.orders")
        await self.kafka.send(f"{stem}.orders", {"id": 1}, key="1")
        message = await self.kafka.expect_message(f"{stem}.orders", where=lambda m: m.json()["id"] == 1)
        assert message.key == b"1"

    async def second(self: Orders) -> None:
        assert self.kafka.topic(f"{stem}.orders") == seen["real"]  # same topic, class scope
        await self.kafka.expect_no_message(f"{stem}.orders", within=0.2)  # first test's message hidden
        await self.kafka.send(f"{stem}.orders", {"id": 2})
        assert [m.json() for m in await self.kafka.messages(f"{stem}.orders")] == [{"id": 2}]
        consumer = await self.kafka.consumer(f"{stem}.orders")
        assert len(consumer.assignment()) == 3

    await _run_class(Orders, ik_kafka, [first, second])
    assert seen["real"] == f"{stem}.orders"
    assert not await _existing(ik_kafka.bootstrap_servers, [f"{stem}.orders", f"{stem}.dlq"])


async def test_function_scope_unique_names_per_test(ik_kafka: Endpoint) -> None:
    stem = _stem()

    class Unique(KafkaTestCase):
        kafka_topics = [TopicSpec(f"{stem}.events", partitions=2)]
        kafka_topic_scope = "function"
        kafka_topic_naming = "unique"

    names: list[str] = []

    async def body(self: Unique) -> None:
        real = self.kafka.topic(f"{stem}.events")
        names.append(real)
        assert real.startswith("gw3.") and f"{stem}.events." in real
        assert await self.kafka.messages(f"{stem}.events") == []
        await self.kafka.send(f"{stem}.events", "x")
        assert len(await self.kafka.messages(f"{stem}.events")) == 1

    await _run_class(Unique, ik_kafka, [body, body], worker="gw3")
    assert len(set(names)) == 2
    assert not await _existing(ik_kafka.bootstrap_servers, names)


async def test_function_scope_recreate_starts_each_test_empty(ik_kafka: Endpoint) -> None:
    stem = _stem()

    class Recreate(KafkaTestCase):
        kafka_topics = [f"{stem}.jobs"]
        kafka_topic_scope = "function"

    names: list[str] = []

    async def body(self: Recreate) -> None:
        names.append(self.kafka.topic(f"{stem}.jobs"))
        assert await self.kafka.messages(f"{stem}.jobs") == []
        await self.kafka.send(f"{stem}.jobs", "job")

    await _run_class(Recreate, ik_kafka, [body, body, body], worker="gw1")
    assert names == [f"gw1.{stem}.jobs"] * 3
    assert not await _existing(ik_kafka.bootstrap_servers, names)


async def test_unreachable_broker_fails_class_setup(closed_port: int) -> None:
    class Nowhere(KafkaTestCase):
        kafka_topics = ["x"]
        kafka_setup_timeout = 0.5

    with raises_code(ErrorCode.KAFKA_UNREACHABLE):
        await _run_class(Nowhere, Endpoint(host="127.0.0.1", port=closed_port), [])
