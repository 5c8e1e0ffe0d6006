"""Batch builds equal factory_boy's own builds: a differential Hypothesis test.

Random factory graphs (every declaration kind factory_boy ships, traits, sub-factories,
post-generation hooks, related factories, call-time overrides) are built twice from the
same description and seed: ``n`` times through factory_boy (``_generate``), and through
``integration_kit.seeding.batch.instance_maker``. Instances, hook calls, the random state
afterwards, the sequence counters and any error must be the same.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from typing import Any

import factory
import factory.fuzzy
import factory.random
import faker.generator
import pytest
from factory import builder, enums
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration_kit import seeding
from integration_kit.seeding import PostgresFactory, SeedFactory
from integration_kit.seeding.batch import BatchPlan, batch_supported, instance_maker
from integration_kit.seeding.rows import PendingRow

pytestmark = pytest.mark.unit

FIELDS = "abcde"
SIMPLE = ["const", "seq", "lazyseq", "lazyfn", "faker", "faker_fr", "fuzzy_int", "fuzzy_choice", "iterator"]
REFERRING = ["lazyattr", "self", "maybe", "faker_param", "container", "transformer"]
COMPOUND = ["dict", "list"]


def _field(index: int, parents: int) -> st.SearchStrategy[tuple[Any, ...]]:
    kinds = SIMPLE + REFERRING + COMPOUND + (["sub", "sub_deep", "self_parent"] if parents else [])
    return st.sampled_from(kinds).flatmap(
        lambda kind: st.tuples(
            st.just(kind),
            st.sampled_from(FIELDS),  # a field it may refer to
            st.integers(0, max(parents - 1, 0)),  # the parent factory it may use
            st.integers(-3, 3),
        )
    )


@st.composite
def graphs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to three factories; factory ``i`` may use factories ``< i`` as SubFactory/RelatedFactory."""
    specs = []
    for index in range(draw(st.integers(1, 3))):
        names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=5, unique=True))
        specs.append(
            {
                "fields": {name: draw(_field(index, index)) for name in names},
                "trait": draw(st.none() | st.tuples(st.sampled_from(names), st.integers(0, 9))),
                "post": draw(
                    st.lists(st.sampled_from(["hook", "related", "related_list"]), max_size=2, unique=True)
                )
                if index
                else draw(st.lists(st.just("hook"), max_size=1)),
                "exclude": draw(st.lists(st.sampled_from(names), max_size=1)),
                "rename": draw(st.none() | st.sampled_from(names)),
                "adjust": draw(st.booleans()),
            }
        )
    return specs


def _declaration(kind: str, ref: str, parent: Any, number: int, name: str) -> Any:
    make: dict[str, Callable[[], Any]] = {
        "const": lambda: [number, name],
        "seq": lambda: factory.Sequence(lambda n: f"{name}{n}"),
        "lazyseq": lambda: factory.LazyAttributeSequence(lambda o, n: (n, getattr(o, ref, None))),
        "lazyfn": lambda: factory.LazyFunction(lambda: factory.random.randgen.random()),
        "faker": lambda: factory.Faker("pyint", min_value=0, max_value=10**6),
        "faker_fr": lambda: factory.Faker("name", locale="fr_FR"),
        "fuzzy_int": lambda: factory.fuzzy.FuzzyInteger(number, 100),
        "fuzzy_choice": lambda: factory.fuzzy.FuzzyChoice(["x", "y", "z"]),
        "iterator": lambda: factory.Iterator(range(number + 4), cycle=number != 0),
        "lazyattr": lambda: factory.LazyAttribute(lambda o: ("of", getattr(o, ref))),
        "self": lambda: factory.SelfAttribute(ref, default="none"),
        "self_parent": lambda: factory.SelfAttribute(f"..{ref}", default="no parent"),
        "maybe": lambda: factory.Maybe(ref, factory.Sequence(lambda n: -n), factory.fuzzy.FuzzyInteger(0, 5)),
        "faker_param": lambda: factory.Faker("pyint", max_value=factory.SelfAttribute("..max")),
        "container": lambda: factory.ContainerAttribute(lambda o, chain: len(chain), strict=False),
        "transformer": lambda: factory.Transformer(name, transform=str.upper),
        "dict": lambda: factory.Dict(
            {"k": factory.Sequence(lambda n: n), "r": factory.fuzzy.FuzzyInteger(0, 9)}
        ),
        "list": lambda: factory.List([factory.fuzzy.FuzzyChoice("pq"), factory.SelfAttribute("0")]),
        "sub": lambda: factory.SubFactory(parent),
        "sub_deep": lambda: factory.SubFactory(parent, **{ref: factory.Sequence(lambda n: ("deep", n))}),
    }
    return make[kind]()


def build_graph(specs: list[dict[str, Any]], base: type, log: list[Any]) -> list[type]:
    """Fresh factory classes (own iterators and counters) for ``specs``."""
    made: list[type] = []
    for index, spec in enumerate(specs):
        attrs: dict[str, Any] = {"max": 50}
        for name, (kind, ref, parent, number) in spec["fields"].items():
            attrs[name] = _declaration(kind, ref, made[parent] if made else None, number, name)
        if spec["trait"] is not None:
            field_name, value = spec["trait"]
            attrs["Params"] = type("Params", (), {"flag": factory.Trait(**{field_name: ("trait", value)})})
        for hook in spec["post"]:
            if hook == "hook":

                def record(obj: Any, create: bool, extracted: Any, _index: int = index, **kw: Any) -> Any:
                    log.append(("hook", _index, dict(obj), create, extracted, kw))
                    return ("hooked", extracted)

                attrs["hook"] = factory.PostGeneration(record)
            elif hook == "related":
                attrs["related"] = factory.RelatedFactory(made[0], factory_related_name="owner")
            else:
                attrs["related_list"] = factory.RelatedFactoryList(made[0], size=2)
        meta: dict[str, Any] = {"exclude": tuple(spec["exclude"])}
        if spec.get("rename"):
            meta["rename"] = {spec["rename"]: "renamed"}
        if spec.get("adjust"):

            def adjust(cls: type, **kwargs: Any) -> dict[str, Any]:
                return {**kwargs, "adjusted": sorted(kwargs)}

            attrs["_adjust_kwargs"] = classmethod(adjust)
        if base is PostgresFactory:
            meta["table"] = f"t{index}"
        elif base is factory.DictFactory:
            meta["model"] = dict
        attrs["Meta"] = type("Meta", (), meta)
        made.append(type(f"F{index}", (base,), attrs))
    return made


def calls(specs: list[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Call-time keyword arguments for the last factory of ``specs``."""
    last = specs[-1]
    names = list(last["fields"])
    options: list[st.SearchStrategy[tuple[str, Any]]] = [
        st.tuples(st.sampled_from(names), st.integers()),
        st.tuples(st.sampled_from(names), st.just("iterator")),
        st.tuples(st.just("flag"), st.booleans()),
        st.tuples(st.just("__sequence"), st.integers(0, 5)),
    ]
    subs = [name for name, spec in last["fields"].items() if spec[0] in ("sub", "sub_deep")]
    if subs:
        options.append(st.tuples(st.sampled_from([f"{s}__{f}" for s in subs for f in FIELDS]), st.integers()))
    if "hook" in last["post"]:
        options += [
            st.tuples(st.just("hook"), st.integers()),
            st.tuples(st.just("hook__extra"), st.integers()),
        ]
    return st.lists(st.one_of(options), max_size=3).map(dict)


def _materialize(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Fresh declaration objects for the call (an Iterator keeps its own position)."""
    return {k: factory.Iterator(["i1", "i2", "i3"]) if v == "iterator" else v for k, v in kwargs.items()}


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _outcome(make: Callable[[], list[Any]], specs: list[dict[str, Any]], base: type) -> dict[str, Any]:
    log: list[Any] = []
    made = build_graph(specs, base, log)
    for made_factory in made:  # factory_boy shares one counter between all DictFactory subclasses
        made_factory.reset_sequence(0, force=True)  # type: ignore[attr-defined]
    factory.random.reseed_random(1234)
    try:
        with factory.Faker.override_default_locale("en_US"):
            built: Any = make(made[-1])
    except Exception as exc:
        built = ("error", type(exc).__name__, _ADDRESS.sub("", str(exc)))
    return {
        "built": _plain(built),
        "log": _plain(log),
        "random": factory.random.randgen.getstate(),
        "faker_random": faker.generator.random.getstate(),
        "sequences": [f._meta.next_sequence() for f in made],  # type: ignore[attr-defined]
    }


def _plain(value: Any, open_: tuple[int, ...] = ()) -> Any:
    """Comparable form: pending rows with their factory and hook results; a cycle as its depth."""
    if isinstance(value, (dict, list, tuple)):
        if id(value) in open_:
            return ("cycle", open_.index(id(value)))
        open_ = (*open_, id(value))
    if isinstance(value, PendingRow):
        return ("row", value.factory.__name__, _plain(dict(value), open_), _plain(value.after, open_))
    if isinstance(value, dict):
        return {k: _plain(v, open_) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, open_) for v in value]
    return value


BASES = [factory.DictFactory, SeedFactory, PostgresFactory]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    base=st.sampled_from(BASES),
    strategy=st.sampled_from([enums.BUILD_STRATEGY, enums.CREATE_STRATEGY]),
)
def test_a_batch_build_equals_factory_boys_own(data: st.DataObject, base: type, strategy: str) -> None:
    specs = data.draw(graphs())
    kwargs = data.draw(calls(specs))
    size = data.draw(st.integers(1, 4))

    def per_instance(f: Any) -> list[Any]:
        call = _materialize(kwargs)
        return [f._generate(strategy, dict(call)) for _ in range(size)]

    def batched(f: Any) -> list[Any]:
        make = instance_maker(f, strategy, _materialize(kwargs))
        return [make() for _ in range(size)]

    with seeding.use(seed=5):  # the kit's per-context sequences, as in a test
        expected = _outcome(per_instance, specs, base)
    with seeding.use(seed=5):
        actual = _outcome(batched, specs, base)
    assert actual == expected


def kitchen_sink(base: type, log: list[Any]) -> type:
    """Every declaration kind at once, in a three-level graph (the random graphs meet them rarely)."""
    specs = []
    kinds = SIMPLE + REFERRING + COMPOUND
    for index in range(3):
        fields = {f"{kind}_{index}": (kind, "b", 0, index + 1) for kind in kinds}
        fields["b"] = ("seq", "b", 0, 0)
        if index:
            fields.update({"sub": ("sub", "b", index - 1, 0), "sub_deep": ("sub_deep", "b", index - 1, 0)})
        if index < 2:  # built under a parent (SubFactory, RelatedFactory)
            fields["self_parent"] = ("self_parent", "b", 0, 0)
        specs.append(
            {
                "fields": fields,
                "trait": ("b", index),
                "post": ["hook", "related", "related_list"][: index + 1],
                "exclude": [],
            }
        )
    made = build_graph(specs, base, log)
    for made_factory in made:
        made_factory.reset_sequence(0, force=True)  # type: ignore[attr-defined]
    return made[-1]


SINK_OVERRIDES = {
    "transformer_2": "iterator",
    "faker_2": "iterator",
    "b": "iterator",
    "sub__b": 7,
    "sub__transformer_1": "iterator",
    "sub__sub__faker_0": "iterator",
    "flag": True,
    "sub__flag": True,
    "hook": 3,
    "hook__extra": 4,
    "related__b": "iterator",
    "maybe_2": "iterator",
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(BASES),
    strategy=st.sampled_from([enums.BUILD_STRATEGY, enums.CREATE_STRATEGY]),
    chosen=st.lists(st.sampled_from(sorted(SINK_OVERRIDES)), unique=True),
    size=st.integers(1, 4),
    seed=st.integers(0, 2**32),
)
def test_every_declaration_kind_at_once(
    base: type, strategy: str, chosen: list[str], size: int, seed: int
) -> None:
    kwargs = {name: SINK_OVERRIDES[name] for name in chosen}

    def outcome(batch: bool) -> dict[str, Any]:
        log: list[Any] = []
        sink = kitchen_sink(base, log)
        call = _materialize(kwargs)
        factory.random.reseed_random(seed)
        with factory.Faker.override_default_locale("en_US"):
            if batch:
                make = instance_maker(sink, strategy, call)
                built = [make() for _ in range(size)]
            else:
                built = [sink._generate(strategy, dict(call)) for _ in range(size)]  # type: ignore[attr-defined]
        return {"built": _plain(built), "log": _plain(log), "random": factory.random.randgen.getstate()}

    with seeding.use(seed=1):
        expected = outcome(batch=False)
    with seeding.use(seed=1):
        assert outcome(batch=True) == expected


class Customer(factory.DictFactory):
    name = factory.Sequence(lambda n: f"c{n}")
    email = factory.LazyAttribute(lambda o: f"{o.name}@example.test")
    score = factory.fuzzy.FuzzyInteger(0, 9)


class Order(factory.DictFactory):
    customer = factory.SubFactory(Customer)
    status = factory.Iterator(["new", "paid"])


def test_the_declarations_are_parsed_once_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast path is taken: one parse for the call and one for its SubFactory, not one per row."""
    parses: list[Any] = []
    real = builder.parse_declarations

    def counting(*args: Any, **kwargs: Any) -> Any:
        parses.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(builder, "parse_declarations", counting)
    make = instance_maker(Order, enums.BUILD_STRATEGY, {})
    rows = [make() for _ in range(50)]
    assert len(rows) == 50 and len(parses) == 2
    assert rows[1]["customer"]["email"] == f"{rows[1]['customer']['name']}@example.test"


def test_factories_that_override_generate_are_built_per_instance() -> None:
    class Custom(factory.DictFactory):
        value = factory.Sequence(lambda n: n)

        @classmethod
        def _generate(cls, strategy: str, params: dict[str, Any]) -> Any:
            return {"custom": super()._generate(strategy, params)}

    assert not batch_supported(Custom) and batch_supported(Order)
    Custom.reset_sequence(0, force=True)
    make = instance_maker(Custom, enums.BUILD_STRATEGY, {})
    assert [make()["custom"]["value"] for _ in range(2)] == [0, 1]


def test_a_plan_keeps_factory_boys_resolver_errors() -> None:
    class Cyclic(factory.DictFactory):
        a = factory.LazyAttribute(lambda o: o.b)
        b = factory.LazyAttribute(lambda o: o.a)

    with pytest.raises(
        factory.errors.CyclicDefinitionError, match="Cyclic lazy attribute definition for 'a'"
    ):
        BatchPlan(Cyclic._meta, {}, enums.BUILD_STRATEGY).build()


def test_a_batch_build_leaves_no_cyclic_garbage() -> None:
    """Each row's step/resolver cycle is broken once nothing else can reach it (no collector needed)."""
    make = instance_maker(Order, enums.BUILD_STRATEGY, {})
    make()
    gc.collect()
    gc.disable()
    try:
        rows = [make() for _ in range(200)]
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert len(rows) == 200


class KeptChild(factory.DictFactory):
    label = factory.Sequence(lambda n: f"k{n}")
    resolver = factory.LazyAttribute(lambda o: o)  # keeps the resolver (and through it the steps)


class Keeper(factory.DictFactory):
    name = factory.Sequence(lambda n: f"p{n}")
    child = factory.SubFactory(KeptChild)


def test_a_kept_resolver_still_reaches_its_parent_as_in_factory_boy() -> None:
    """A resolver a declaration kept sees its parent after the build, as factory_boy's own does."""

    def parents(batch: bool) -> list[tuple[str, str, str]]:
        Keeper.reset_sequence(0, force=True)
        KeptChild.reset_sequence(0, force=True)
        make = instance_maker(Keeper, enums.BUILD_STRATEGY, {}) if batch else Keeper.build
        rows = [make() for _ in range(3)]
        gc.collect()
        return [
            (row["name"], row["child"]["resolver"].factory_parent.name, row["child"]["label"]) for row in rows
        ]

    built = parents(batch=True)
    assert built == parents(batch=False)
    assert all(name == parent for name, parent, _ in built) and len({label for *_, label in built}) == 3


def test_a_create_override_is_honoured_where_the_unpacking_is_skipped() -> None:
    """PostgresFactory's own ``_create`` is called as ``from_kwargs``; a subclass's override as itself."""
    calls: list[dict[str, Any]] = []

    class Rows(PostgresFactory):
        class Meta:
            table = "rows"

        n = factory.Sequence(lambda n: n)

    class Counted(Rows):
        class Meta:
            table = "rows"

        @classmethod
        def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs)
            return super()._create(model_class, *args, **kwargs)

    with seeding.use(seed=1):
        plain = BatchPlan(Rows._meta, {}, enums.CREATE_STRATEGY)
        counted = BatchPlan(Counted._meta, {}, enums.CREATE_STRATEGY)
        rows = [plain.build(), counted.build(), counted.build()]
    assert plain._finish is None and counted._finish is None  # no post-generation declarations
    assert [type(r) for r in rows] == [PendingRow] * 3 and [r.factory for r in rows] == [
        Rows,
        Counted,
        Counted,
    ]
    assert calls == [{"n": rows[1]["n"]}, {"n": rows[2]["n"]}]
