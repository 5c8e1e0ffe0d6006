"""Message contracts against real Kafka records (aiokafka, the dev or CI broker)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from integration_kit.contracts import ConsumerExpectation, MessageContract, verify_provider
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.base import Endpoint
from integration_kit.services.namespace import Namespace

pytestmark = [pytest.mark.integration, pytest.mark.contract]

CONTRACT = MessageContract(
    name="order-created",
    version="1.0.0",
    topic="orders",
    key={"type": "string", "pattern": "^[0-9]+$"},
    value={
        "type": "object",
        "required": ["id", "items"],
        "properties": {
            "id": {"type": "integer"},
            "items": {
                "type": "array",
                "items": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}},
            },
        },
    },
    headers={"content-type": {"const": "application/json"}},
)
JSON = [("content-type", b"application/json")]


@pytest.fixture
async def topic(ik_kafka: Endpoint) -> AsyncIterator[tuple[str, str]]:
    """A fresh single-partition topic, deleted afterwards."""
    servers = ik_kafka.bootstrap_servers
    name = Namespace.current().topic(f"ikcontracts-orders-{uuid.uuid4().hex[:8]}")  # gw0.... under xdist
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        yield servers, name
    finally:
        await admin.delete_topics([name])
        await admin.close()


async def produce(servers: str, topic: str, messages: list[tuple[bytes | None, bytes, list[Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def consume(servers: str, topic: str, count: int) -> list[Any]:
    """Exactly ``count`` records from the start of ``topic`` (group-less)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=servers, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        records: list[Any] = []
        async with asyncio.timeout(30):
            while len(records) < count:
                batch = await consumer.getmany(partition, timeout_ms=200)
                records += batch.get(partition, [])
        return records
    finally:
        await consumer.stop()


async def test_records_are_verified_against_the_contract(topic: tuple[str, str]) -> None:
    servers, name = topic
    await produce(
        servers,
        name,
        [
            (b"7", json.dumps({"id": 7, "items": [{"sku": "A1"}]}).encode(), JSON),
            (b"8", json.dumps({"id": "8", "items": [{}]}).encode(), JSON),
            (b"9", json.dumps({"id": 9, "items": []}).encode(), []),
            (b"ten", b"not json at all", JSON),
            (None, json.dumps({"id": 11, "items": []}).encode(), JSON),
        ],
    )
    good, wrong_value, no_header, garbage, no_key = await consume(servers, name, 5)

    assert [CONTRACT.matches(r) for r in (good, wrong_value, no_header, garbage, no_key)] == [
        True,
        False,
        False,
        False,
        False,
    ]
    base = name.rsplit(".", 1)[-1]
    dataclasses.replace(CONTRACT, topic=base).verify_record(good, check_topic=True)
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        CONTRACT.verify_record(good, check_topic=True)
    assert [v.path for v in caught[0].context["details"]] == ["topic"]
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        CONTRACT.verify_record(wrong_value)
    assert [v.path for v in caught[0].context["details"]] == ["$.id", "$.items[0].sku"]
    assert caught[0].context["subject"] == f"message on {name}[0]@1"
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        CONTRACT.verify_record(no_header)
    assert [v.path for v in caught[0].context["details"]] == ['headers["content-type"]']
    with raises_code(ErrorCode.CONTRACT_UNDECODABLE):
        CONTRACT.verify_record(garbage)
    with raises_code(ErrorCode.CONTRACT_VIOLATION) as caught:
        CONTRACT.verify_record(no_key)
    assert [v.path for v in caught[0].context["details"]] == ["key"]


async def test_provider_verifies_consumed_records_against_consumers(topic: tuple[str, str]) -> None:
    servers, name = topic
    await produce(
        servers,
        name,
        [
            (b"1", json.dumps({"id": 1, "items": [{"sku": "A"}]}).encode(), JSON),
            (b"2", json.dumps({"id": 2, "items": [{"sku": "B"}, {"sku": 3}]}).encode(), JSON),
        ],
    )
    records = await consume(servers, name, 2)
    billing = ConsumerExpectation(
        consumer="billing",
        contract="order-created",
        fields={"id": "integer", "items[].sku": "string"},
        headers=["content-type"],
    )
    report = verify_provider(CONTRACT, [billing], messages=records, provider="order-service")
    assert report.messages == 2
    assert [(f.consumer, f.where) for f in report.failures] == [
        ("(contract)", "message 1"),
        ("billing", "message 1"),
    ]
    assert report.failures[1].problem == "$.items[1].sku is integer (3); consumer expects string"
    with raises_code(ErrorCode.CONTRACT_PROVIDER_FAILED):
        report.raise_for_failures()
    assert verify_provider(CONTRACT, [billing], messages=records[:1]).ok


async def test_contract_as_a_predicate_of_the_kafka_layer(topic: tuple[str, str]) -> None:
    """``expect_message(where=contract.matches)`` with the kit's KafkaHandle (once merged)."""
    handle_module = pytest.importorskip("integration_kit.kafka.handle", reason="Kafka layer not merged yet")
    servers, name = topic
    async with handle_module.KafkaHandle(servers, topics={"orders": name}) as kafka:
        await kafka.send(
            "orders", {"id": "1", "items": []}, key="1", headers={"content-type": "application/json"}
        )
        await kafka.send(
            "orders", {"id": 2, "items": []}, key="2", headers={"content-type": "application/json"}
        )
        message = await kafka.expect_message("orders", where=CONTRACT.matches, within=10)
        assert message.json() == {"id": 2, "items": []}
        needs_currency = dataclasses.replace(
            CONTRACT,
            value={**CONTRACT.value, "required": ["id", "items", "currency"]},  # type: ignore[dict-item]
        )
        with raises_code(ErrorCode.KAFKA_NO_MESSAGE) as caught:
            await kafka.expect_message("orders", where=needs_currency.assert_matches, within=0.5)
        assert "IK-CONTRACT-VIOLATION" in str(caught[0].context["predicate_error"])
        assert "$.currency" in str(caught[0].context["predicate_error"])
