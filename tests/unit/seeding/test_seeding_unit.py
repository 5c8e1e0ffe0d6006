"""The seeding layer without services: declarations, validation, encodings, scenario graphs."""

from __future__ import annotations

import datetime
import decimal
import uuid

import factory
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import integration_kit.seeding as seeding
from integration_kit.errors import ErrorCode, SeedValidationError, raises_code
from integration_kit.seeding import (
    Invalid,
    KafkaMessageFactory,
    PostgresFactory,
    RedisFactory,
    ScenarioRun,
    SeedFactory,
    Stores,
    scenario,
)
from integration_kit.seeding.context import derive_seed

pytestmark = pytest.mark.unit


def test_public_api_is_sorted_and_importable() -> None:
    assert seeding.__all__ == sorted(seeding.__all__)
    for name in seeding.__all__:
        assert getattr(seeding, name) is not None
    with pytest.raises(AttributeError):
        seeding.TableFactory  # noqa: B018 - the old name is gone


@pytest.mark.parametrize(
    ("base", "meta", "attribute"),
    [
        (PostgresFactory, {"table": "db.shop.orders"}, "Meta.table"),
        (PostgresFactory, {"table": "shop."}, "Meta.table"),
        (PostgresFactory, {}, "Meta.table"),
        (PostgresFactory, {"table": "orders", "conflict": "replace"}, "Meta.conflict"),
        (PostgresFactory, {"table": "orders", "conflict_key": "email"}, "Meta.conflict_key"),
        (PostgresFactory, {"table": "orders", "copy_threshold": 0}, "Meta.copy_threshold"),
        (KafkaMessageFactory, {}, "Meta.topic"),
        (KafkaMessageFactory, {"topic": "t", "serializer": "avro"}, "Meta.serializer"),
        (KafkaMessageFactory, {"topic": "t", "headers": {"a": 1}}, "Meta.headers"),
        (RedisFactory, {"key": "k:{id", "type": "string"}, "Meta.key"),
        (RedisFactory, {"key": "k", "type": "list"}, "Meta.type"),
        (RedisFactory, {"key": "k", "ttl": 0}, "Meta.ttl"),
        (RedisFactory, {"key": "k", "type": "set"}, "Meta.value"),
        (SeedFactory, {"validate": 42}, "Meta.validate"),
    ],
)
def test_meta_options_are_checked_when_the_class_is_defined(base: type, meta: dict, attribute: str) -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        type("Broken", (base,), {"Meta": type("Meta", (), meta)})
    assert caught[0].context["attribute"] == attribute
    assert caught[0].context["owner"] == "Broken"


def test_unknown_meta_options_are_refused_by_factory_boy() -> None:
    with pytest.raises(TypeError, match="unknown attribute"):
        type("Broken", (PostgresFactory,), {"Meta": type("Meta", (), {"table": "t", "tabel": "x"})})


class Price(pydantic.BaseModel):
    sku: str
    cents: int = pydantic.Field(gt=0)


def _positive(record: dict) -> None:
    if record["cents"] <= 0:
        raise Invalid("cents", "must be > 0")


@pytest.mark.parametrize(
    ("validate", "field", "rule"),
    [
        (
            {"type": "object", "properties": {"cents": {"type": "integer", "minimum": 1}}},
            "cents",
            "minimum=1",
        ),
        ({"type": "object", "properties": {"cents": {"enum": [5, 6]}}}, "cents", "enum"),
        (Price, "cents", "greater_than"),
        (_positive, "cents", "must be > 0"),
        (lambda record: record["cents"] > 0, "(record)", "returned False"),
    ],
)
def test_invalid_records_name_factory_field_and_rule(validate: object, field: str, rule: str) -> None:
    class PriceFactory(SeedFactory):
        class Meta:
            validate = None

        sku = "A1"
        cents = 5

    checked = type("CheckedPrice", (PriceFactory,), {"Meta": type("Meta", (), {"validate": validate})})
    assert checked.build()["cents"] == 5
    with raises_code(ErrorCode.SEED_INVALID) as caught:
        checked.build(cents=0)
    error = caught[0]
    assert isinstance(error, SeedValidationError) and isinstance(error, ValueError)
    assert error.context["factory"] == "CheckedPrice"
    assert error.context["field"] == field
    assert rule in error.context["rule"]


def test_a_missing_required_field_is_named() -> None:
    class NoCurrency(SeedFactory):
        class Meta:
            validate = {"type": "object", "required": ["sku", "currency"]}

        sku = "A1"

    with raises_code(ErrorCode.SEED_INVALID) as caught:
        NoCurrency.build()
    assert caught[0].context["field"] == "currency"
    assert "required" in caught[0].context["rule"]


def test_a_bad_json_schema_is_refused_at_definition() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        type("Broken", (SeedFactory,), {"Meta": type("Meta", (), {"validate": {"type": "nonsense"}})})


class EventFactory(KafkaMessageFactory):
    class Meta:
        topic = "events"
        key = "id"
        headers = staticmethod(lambda record: {"kind": record["kind"]})

    id = factory.Sequence(int)
    kind = "created"
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    amount = decimal.Decimal("1.50")
    ref = uuid.UUID(int=7)


def test_kafka_messages_encode_key_value_and_headers_deterministically() -> None:
    with seeding.use(seed=3):
        message = EventFactory.message()
    assert message.topic == "events" and message.key == b"0"
    assert message.headers == (("kind", b"created"),)
    assert message.value == (
        b'{"id":0,"kind":"created","at":"2026-01-02T03:04:05+00:00","amount":"1.50",'
        b'"ref":"00000000-0000-0000-0000-000000000007"}'
    )
    with raises_code(ErrorCode.SEED_INVALID) as caught:
        EventFactory.message(kind=object())
    assert caught[0].context["field"] == "kind"


def test_kafka_bytes_and_callable_serializers() -> None:
    class Raw(KafkaMessageFactory):
        class Meta:
            topic = "raw"
            serializer = "bytes"

        payload = b"\x00\x01"

    class Custom(KafkaMessageFactory):
        class Meta:
            topic = "custom"
            serializer = staticmethod(lambda record: repr(sorted(record.items())).encode())

        a = 1

    assert Raw.message().value == b"\x00\x01"
    assert Custom.message().value == b"[('a', 1)]"
    with raises_code(ErrorCode.SEED_INVALID):
        Raw.message(payload="text")


@pytest.mark.parametrize(
    ("kind", "extra", "expected"),
    [
        ("string", {"value": "v"}, ("SET", "s:1", "x")),
        ("hash", {}, ("HSET", "s:1", "id", 1, "v", "x")),
        ("stream", {}, ("XADD", "s:1", "*", "id", 1, "v", "x")),
    ],
)
def test_redis_commands_per_type(kind: str, extra: dict, expected: tuple) -> None:
    meta = type("Meta", (), {"key": "s:{id}", "type": kind, **extra})
    cls = type("Session", (RedisFactory,), {"Meta": meta, "id": 1, "v": "x"})
    record = cls.build()
    assert cls._command(cls.key_of(record), record) == expected


def test_redis_refuses_values_it_cannot_hold() -> None:
    class Cache(RedisFactory):
        class Meta:
            key = "c:{id}"
            type = "hash"

        id = 1
        missing = None

    record = Cache.build()
    with raises_code(ErrorCode.SEED_INVALID) as caught:
        Cache._command("c:1", record)
    assert caught[0].context["field"] == "missing"
    with raises_code(ErrorCode.SEED_INVALID):
        Cache.key_of({"other": 1})


class Numbered(SeedFactory):
    n = factory.Sequence(int)
    word = factory.Faker("word")


class MoreNumbered(Numbered):
    pass


class Other(SeedFactory):
    n = factory.Sequence(int)


def test_sequences_are_per_factory_and_per_context() -> None:
    with seeding.use(seed=1):
        first = [Numbered.build()["n"], MoreNumbered.build()["n"], Other.build()["n"], Numbered.build()["n"]]
    with seeding.use(seed=1):
        again = [Numbered.build()["n"], MoreNumbered.build()["n"], Other.build()["n"], Numbered.build()["n"]]
    # a subclass counts with its parent; an unrelated factory on its own
    assert first == again == [0, 1, 0, 2]
    with seeding.use(seed=1):
        Numbered.reset_sequence(10)
        assert Numbered.build()["n"] == 10


@given(st.integers(min_value=0, max_value=2**63), st.text(min_size=1, max_size=40))
def test_contexts_restore_the_random_state_they_found(seed: int, name: str) -> None:
    import factory.random

    before = factory.random.get_random_state()
    with seeding.use(seed=seed, name=name) as ctx:
        assert ctx.seed == derive_seed(seed, name)
        Numbered.build()
    assert factory.random.get_random_state() == before


def test_derived_seeds_depend_on_run_seed_and_name() -> None:
    assert derive_seed(1, "a") == derive_seed(1, "a")
    assert len({derive_seed(1, "a"), derive_seed(2, "a"), derive_seed(1, "b")}) == 3
    with raises_code(ErrorCode.SEED_INVALID_SEED), seeding.use(seed=-1):
        pass


@scenario
async def base_data(ctx):
    return [Numbered.build() for _ in range(2)]


@scenario("derived", requires=["base_data"])
async def derived(ctx):
    return len(ctx["base_data"])


@scenario("loop_a", requires=["loop_b"])
async def loop_a(ctx):
    return None


@scenario("loop_b", requires=["loop_a"])
async def loop_b(ctx):
    return None


@scenario("broken", requires=["nowhere"])
async def broken(ctx):
    return None


async def test_scenarios_run_once_in_dependency_order_with_their_own_data() -> None:
    run = ScenarioRun(run_seed=9)
    assert await run.ensure(derived, stores=Stores()) == 2
    first = run.results["base_data"]
    assert await run.ensure(derived, stores=Stores()) == 2  # memoized
    assert run.results["base_data"] is first
    other = ScenarioRun(run_seed=9)
    await other.ensure(base_data, stores=Stores())
    assert other.results["base_data"] == first  # same run seed, same data, whatever ran before
    assert [s.name for s in seeding.module_scenarios(__name__)] == sorted(
        ["base_data", "broken", "derived", "loop_a", "loop_b"]
    )


async def test_scenario_graph_errors() -> None:
    with raises_code(ErrorCode.SEED_SCENARIO_CYCLE) as caught:
        await ScenarioRun().ensure(loop_a, stores=Stores())
    assert caught[0].context["cycle"] == "loop_a -> loop_b -> loop_a"
    with raises_code(ErrorCode.SEED_UNKNOWN_SCENARIO) as unknown:
        await ScenarioRun().ensure(broken, stores=Stores())
    assert "derived" in unknown[0].context["known"]
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        scenario(lambda ctx: None)


async def test_factories_without_a_store_say_which_one() -> None:
    class Rows(PostgresFactory):
        class Meta:
            table = "rows"

        x = 1

    with raises_code(ErrorCode.SEED_NO_STORE) as caught:
        await Rows.create()
    assert caught[0].context["store"] == "postgres"
    with raises_code(ErrorCode.SEED_NO_STORE):
        await EventFactory.send()
