"""Seeding in the base classes: ``postgres_seed``, ``redis_seed`` and ``kafka_seed`` scenarios.

A test class's scenarios run once per class, in one :class:`ScenarioRun` shared by its
base classes, with every store the class has open:

- ``postgres_seed`` scenarios run while the PostgreSQL snapshot is built (their rows are
  in the snapshot every test is restored to); the class's Redis and Kafka stores are
  set up first, whichever base class comes first in the class's bases;
- ``redis_seed`` and ``kafka_seed`` scenarios run once every store is set up;
- then the Redis snapshot is taken, so it holds the keys of all of them.

Kafka messages go to the class's topics; with ``kafka_topic_scope = "function"`` the
topics are new in every test, so the seeded messages are sent again into each test's
topics, in the same order.

The base classes call :func:`store_ready` when their store is set up and
:func:`attach` when a test's handle exists; everything else is here.
"""

from __future__ import annotations

import inspect
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from integration_kit.seeding import context
from integration_kit.seeding.context import Stores, UsedStores
from integration_kit.seeding.scenarios import Scenario, ScenarioRun

if TYPE_CHECKING:
    from integration_kit.seeding.kafka import OutgoingMessage

_STATE_KEY = "integration_kit.seeding"
KINDS = ("postgres", "redis", "kafka")


def _kinds(owner: type) -> set[str]:
    """The seedable stores of a test class (by its base classes)."""
    from integration_kit import testcase

    return {kind for kind in KINDS if issubclass(owner, getattr(testcase, f"{kind.capitalize()}TestCase"))}


@dataclass
class ClassSeeding:
    """One test class's seeding state (kept in ``ctx.state``)."""

    kinds: set[str]
    run: ScenarioRun
    stores: Stores = field(default_factory=Stores)
    ready: set[str] = field(default_factory=set)
    finished: bool = False
    #: Messages to send into each test's fresh topics (``kafka_topic_scope = "function"``).
    kafka_replay: list[OutgoingMessage] = field(default_factory=list)
    #: The other stores (``redis``, ``kafka``) the ``postgres_seed`` scenarios used.
    used_by_postgres_seed: set[str] = field(default_factory=set)


def class_seeding(ctx: Any) -> ClassSeeding:
    """The class's seeding state, created on first use with the run seed of the active test."""
    found = ctx.state.get(_STATE_KEY)
    if found is None:
        active = context.current()
        found = ctx.state[_STATE_KEY] = ClassSeeding(
            kinds=_kinds(ctx.owner), run=ScenarioRun(run_seed=active.run_seed if active is not None else 0)
        )
    return found  # type: ignore[no-any-return]


def scenarios_of(seeds: Any) -> list[Scenario]:
    if seeds is None or (callable(seeds) and not isinstance(seeds, Scenario)):
        return []
    items = [seeds] if isinstance(seeds, Scenario) else list(seeds)
    return [item for item in items if isinstance(item, Scenario)]


def uses_scenarios(case: Any) -> bool:
    return any(scenarios_of(getattr(case, f"{kind}_seed", None)) for kind in KINDS)


async def _open_stores(case: Any, ctx: Any, seeding: ClassSeeding) -> None:
    """Set up the class's Redis and Kafka stores now (each base class does it once)."""
    for kind in ("redis", "kafka"):
        if kind in seeding.kinds and getattr(seeding.stores, kind) is None:
            setattr(seeding.stores, kind, await getattr(case, f"_ik_{kind}_store")(ctx))


class _PostgresScenarioHook:
    """A ``postgres_seed`` hook running one scenario in the class's run (one per class)."""

    def __init__(self, case: Any, ctx: Any, item: Scenario) -> None:
        self.case = case
        self.ctx = ctx
        self.scenario = item
        # A name of its own: the snapshot cache must not mistake another class's hook for it.
        self.__qualname__ = f"{type(self).__qualname__}.{item.name}.{uuid.uuid4().hex}"

    async def __call__(self, connection: Any) -> Any:
        seeding = class_seeding(self.ctx)
        await _open_stores(self.case, self.ctx, seeding)
        stores = UsedStores(postgres=connection, redis=seeding.stores.redis, kafka=seeding.stores.kafka)
        try:
            return await seeding.run.ensure(self.scenario, stores=stores)
        finally:
            seeding.used_by_postgres_seed |= stores.used


def postgres_seed_used_other_stores(ctx: Any) -> bool:
    """Whether the class's ``postgres_seed`` scenarios used its Redis or Kafka store (so far)."""
    seeding = ctx.state.get(_STATE_KEY)
    return bool(seeding is not None and seeding.used_by_postgres_seed)


def seeds_only_postgres_first(cls: type) -> bool:
    """Whether a class with Redis or Kafka seeds through ``postgres_seed`` only: no
    ``redis_seed`` / ``kafka_seed``, which may require (and so re-run) its scenarios."""
    return not _as_list(getattr(cls, "redis_seed", ())) and not _as_list(getattr(cls, "kafka_seed", ()))


def postgres_hooks(case: Any, ctx: Any, seeds: Any) -> Any:
    """``postgres_seed`` as the hooks ``IsolatedDatabase`` runs while building the snapshot.

    In a class that also has Redis or Kafka, scenarios become hooks of this class (they
    write to its other stores too, so their snapshot is not shared with other classes).
    """
    if seeds is None:
        return None
    items = [seeds] if callable(seeds) else list(seeds)
    if not ({"redis", "kafka"} & _kinds(ctx.owner)):
        return items
    return [_PostgresScenarioHook(case, ctx, item) if isinstance(item, Scenario) else item for item in items]


async def store_ready(case: Any, ctx: Any, kind: str, store: Any) -> None:
    """A base class's store is set up; once all of the class's are, seed and snapshot."""
    seeding = class_seeding(ctx)
    setattr(seeding.stores, kind, store)
    seeding.ready.add(kind)
    if seeding.finished or not seeding.kinds <= seeding.ready:
        return
    seeding.finished = True
    await _finish(case, ctx, seeding)


async def _finish(case: Any, ctx: Any, seeding: ClassSeeding) -> None:
    stores = Stores(redis=seeding.stores.redis, kafka=seeding.stores.kafka)
    function_topics = "kafka" in seeding.kinds and getattr(case, "kafka_topic_scope", "class") == "function"
    for kind in ("redis", "kafka"):
        if kind not in seeding.kinds:
            continue
        for item in _as_list(getattr(case, f"{kind}_seed", ())):
            if isinstance(item, Scenario):
                await seeding.run.ensure(item, stores=stores)
            elif kind == "redis":
                outcome = item(seeding.stores.redis)
                if inspect.isawaitable(outcome):
                    await outcome
            else:
                outcome = item(seeding.stores.kafka)
                if inspect.isawaitable(outcome):
                    await outcome
    if function_topics:
        seeding.kafka_replay = list(seeding.run.sent)
    if "redis" in seeding.kinds and (bool(getattr(case, "redis_seed", ())) or uses_scenarios(case)):
        await seeding.stores.redis.snapshot()


def recording_kafka() -> Any:
    """A Kafka store keeping messages to send into each test's topics later."""
    from integration_kit.seeding.kafka import RecordingKafka

    return RecordingKafka()


def _as_list(seeds: Any) -> list[Any]:
    if seeds is None:
        return []
    if callable(seeds):
        return [seeds]
    return list(seeds)


async def attach(ctx: Any, kind: str, store: Any) -> None:
    """Before a test: factories in it write to ``store``; fresh Kafka topics get the seeded messages."""
    active = context.current()
    if active is not None:
        setattr(active.stores, kind, store)
    seeding = ctx.state.get(_STATE_KEY)
    if kind == "kafka" and seeding is not None and seeding.kafka_replay:
        from integration_kit.seeding.kafka import replay

        await replay(store, seeding.kafka_replay)
