"""Kafka layer pieces that need no broker: declarations, topic specs, encoding, exports."""

from __future__ import annotations

import pytest

import integration_kit.kafka as kafka_layer
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.kafka import Message, TopicSpec, encode_value, normalize_topics
from integration_kit.kafka.messages import encode_headers, encode_key
from integration_kit.kafka.testcase import KafkaTestCase

pytestmark = pytest.mark.unit


def test_exports_are_sorted_and_importable() -> None:
    assert kafka_layer.__all__ == sorted(kafka_layer.__all__)
    for name in kafka_layer.__all__:
        assert getattr(kafka_layer, name) is not None


def test_normalize_accepts_every_form() -> None:
    spec = TopicSpec("c", partitions=2, config={"retention.ms": 1000})
    assert normalize_topics("a") == [TopicSpec("a")]
    assert normalize_topics(["a", spec]) == [TopicSpec("a"), spec]
    assert normalize_topics({"a": 3, "renamed": spec}) == [TopicSpec("a", 3), spec.renamed("renamed")]
    assert spec.config == {"retention.ms": "1000"}


@pytest.mark.parametrize(
    "topics",
    [["bad name"], [""], ["x" * 250], ["."], {"a": 0}, {"a": True}, ["a", "a"], 5, [7]],
)
def test_normalize_refuses_bad_topics(topics: object) -> None:
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        normalize_topics(topics)  # type: ignore[arg-type]


def test_topic_spec_refuses_bad_numbers() -> None:
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        TopicSpec("a", replication_factor=0)
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT) as caught:
        TopicSpec("a", partitions=1.5)  # type: ignore[arg-type]
    assert isinstance(caught[0], TypeError)  # UsageError


def test_encoding() -> None:
    assert encode_value({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()
    assert encode_value([1, 2]) == b"[1,2]"
    assert encode_value("é") == "é".encode()
    assert encode_value(b"\x00") == b"\x00"
    assert encode_value(None) is None
    assert encode_key(7) == b"7" and encode_key("k") == b"k" and encode_key(None) is None
    assert encode_headers({"a": "b", "c": b"d"}) == [("a", b"b"), ("c", b"d")]
    assert encode_headers([("a", "b")]) == [("a", b"b")]
    for bad in (object(), {1, 2}, {"x": object()}):
        with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
            encode_value(bad)
    with raises_code(ErrorCode.KAFKA_INVALID_ARGUMENT):
        encode_headers({"a": 1})  # type: ignore[dict-item]


def test_message_decoding() -> None:
    message = Message("t", 0, 5, b"k", b'{"id": 1}', (("h", b"1"), ("h", b"2")), 0)
    assert message.json() == {"id": 1}
    assert message.text == '{"id": 1}' and message.key_text == "k"
    assert message.header("h") == b"2" and message.header("x") is None
    assert "t[0]@5" in message.short()


def test_valid_declarations_are_accepted() -> None:
    class Fine(KafkaTestCase):
        kafka_topics = {"orders": 3}
        kafka_topic_scope = "function"
        kafka_topic_naming = "unique"

    assert Fine.kafka_topics == {"orders": 3}


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("kafka_topics", "orders"),
        ("kafka_topics", ["bad name"]),
        ("kafka_topics", {"orders": 0}),
        ("kafka_topics", ["a", "a"]),
        ("kafka_topics", 3),
        ("kafka_topic_scope", "module"),
        ("kafka_topic_naming", "random"),
        ("kafka_setup_timeout", -1),
    ],
)
def test_invalid_declarations_are_refused_when_the_class_is_defined(attribute: str, value: object) -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        type("Bad", (KafkaTestCase,), {attribute: value})
    assert caught[0].context["attribute"] == attribute
    assert caught[0].context["owner"] == "Bad"


async def test_nothing_to_do_needs_no_broker() -> None:
    from integration_kit.kafka import create_topics, delete_topics, setup_kafka_topics, wait_for_topics_ready

    nowhere = "127.0.0.1:1"
    assert await setup_kafka_topics(nowhere, []) == []
    assert await create_topics(nowhere, {}) == []
    await delete_topics(nowhere, [])
    await wait_for_topics_ready(nowhere, [])


def test_unique_group_ids() -> None:
    from integration_kit.kafka import unique_group_id
    from integration_kit.services.namespace import Namespace

    worker = Namespace.current().worker
    first, second = unique_group_id(), unique_group_id("svc")
    assert first != unique_group_id()
    assert first.startswith(f"ik-{worker}-") and second.startswith(f"svc-{worker}-")
