"""Class options: one table per mixin, checked in one place when a test class is defined."""

from __future__ import annotations

import math
from typing import Any

import pytest

from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase
from integration_kit.declarations import declared, options_of, state_key
from integration_kit.errors import ErrorCode, raises_code

MIXINS = (KafkaTestCase, PostgresTestCase, RedisTestCase)

# (mixin, attribute, a value the option must refuse)
BAD = [
    (KafkaTestCase, "kafka_topics", "orders"),
    (KafkaTestCase, "kafka_topics", {"orders": 0}),
    (KafkaTestCase, "kafka_topic_scope", "module"),
    (KafkaTestCase, "kafka_topic_naming", None),
    (KafkaTestCase, "kafka_setup_timeout", 0),
    (KafkaTestCase, "kafka_setup_timeout", -1.5),
    (KafkaTestCase, "kafka_setup_timeout", math.nan),
    (KafkaTestCase, "kafka_setup_timeout", math.inf),
    (KafkaTestCase, "kafka_setup_timeout", True),
    (KafkaTestCase, "kafka_seed", "scenario"),
    (KafkaTestCase, "kafka_seed", [1]),
    (PostgresTestCase, "postgres_options", [("spares", 3)]),
    (PostgresTestCase, "postgres_seed", "seed.sql"),
    (PostgresTestCase, "postgres_seed", [print, 3]),
    (PostgresTestCase, "postgres_migrations", 42),
    (PostgresTestCase, "postgres_migrations", ["migrations/", 42]),
    (RedisTestCase, "redis_isolation", "cluster"),
    (RedisTestCase, "redis_seed", print),
]


def define(base: type, **attributes: Any) -> type:
    return type("TestDeclared", (base,), {"__qualname__": "TestDeclared", **attributes})


@pytest.mark.parametrize(("mixin", "attribute", "value"), BAD, ids=lambda v: repr(v)[:30])
def test_a_bad_option_is_refused_when_the_class_is_defined(mixin: type, attribute: str, value: Any) -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        define(mixin, **{attribute: value})
    message = str(caught[0])
    assert attribute in message and "TestDeclared" in message


def test_a_bad_option_of_any_mixin_is_refused_on_a_combined_class() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        define(type("Combined", (KafkaTestCase, PostgresTestCase, RedisTestCase), {}), redis_isolation="x")
    assert "redis_isolation" in str(caught[0])


def test_postgres_isolation_keeps_its_layer_code_listing_the_strategies() -> None:
    with raises_code(ErrorCode.PG_UNKNOWN_STRATEGY) as caught:
        define(PostgresTestCase, postgres_isolation="snapshot")
    assert "transaction" in str(caught[0])


@pytest.mark.parametrize("mixin", MIXINS, ids=lambda m: m.__name__)
def test_the_table_is_the_truth_of_each_default(mixin: type) -> None:
    options = options_of(mixin)
    assert options, f"{mixin.__name__} declares no options"
    for name, option in options.items():
        assert getattr(mixin, name) == option.default, name
        option.check(option.default)  # every default passes its own check


def test_declared_values_are_normalised_once_per_class() -> None:
    cls = define(KafkaTestCase, kafka_topics={"orders": 3, "dlq": 1}, kafka_setup_timeout=5)
    specs = declared(cls, "kafka_topics")
    assert [(s.name, s.partitions) for s in specs] == [("orders", 3), ("dlq", 1)]
    assert declared(cls, "kafka_setup_timeout") == 5.0
    child = define(cls, kafka_topics=["payments"])
    assert [s.name for s in declared(child, "kafka_topics")] == ["payments"]
    assert [s.name for s in declared(cls, "kafka_topics")] == ["orders", "dlq"]  # the parent's stays


def test_combined_classes_see_every_mixins_options() -> None:
    combined = type("Combined", (KafkaTestCase, PostgresTestCase, RedisTestCase), {})
    names = set(options_of(combined))
    assert {"kafka_topics", "postgres_isolation", "redis_isolation", "redis_seed"} <= names


def test_state_keys_are_uniform() -> None:
    assert state_key("kafka") == "integration_kit.kafka"
    assert state_key("kafka", "seed") == "integration_kit.kafka.seed"
