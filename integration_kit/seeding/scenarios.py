"""Scenarios: named data sets that may require each other and write to every store.

::

    @scenario
    async def customers(ctx):
        return await CustomerFactory.create_batch(20)

    @scenario("catalog", requires=["customers"])
    async def catalog(ctx):
        products = await ProductFactory.create_batch(50)
        await PriceEventFactory.send_batch(50)          # Kafka
        await ProductCacheFactory.create_batch(10)      # Redis
        return products

A scenario runs once per :class:`ScenarioRun` (one per test class, or one per
``integration-kit seed`` call), after the scenarios it requires, in dependency order.
``requires`` names scenarios of the same module, or holds :class:`Scenario` objects.
Each scenario draws its random state from (run seed, scenario name), with fresh
sequences, so its data does not depend on what ran before it.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from integration_kit.declarations import invalid_declaration
from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding import context
from integration_kit.seeding.context import SeedContext, Stores

ScenarioFunction = Callable[["ScenarioContext"], Awaitable[Any]]
#: The run of the scenarios seeded through one connection (hooks of one snapshot build).
_RUNS: weakref.WeakKeyDictionary[Any, ScenarioRun] = weakref.WeakKeyDictionary()


@dataclass
class ScenarioContext:
    """What a scenario function receives: its stores, seed and the required scenarios' results."""

    name: str
    seed: int
    run_seed: int
    stores: Stores
    results: dict[str, Any]

    @property
    def postgres(self) -> Any:
        return self.stores.postgres

    @property
    def kafka(self) -> Any:
        return self.stores.kafka

    @property
    def redis(self) -> Any:
        return self.stores.redis

    def __getitem__(self, name: str) -> Any:
        """The result of required scenario ``name``."""
        return self.results[name]


@dataclass(frozen=True, eq=False)
class Scenario:
    """A named data set; see the module docstring. Compared by identity."""

    name: str
    function: ScenarioFunction
    requires: tuple[str | Scenario, ...] = ()
    module: str | None = None

    async def __call__(self, connection: Any = None) -> Any:
        """Run as a plain seed hook: with ``connection`` as the PostgreSQL store (plus
        the stores of the active seeding context), this scenario and what it requires.

        Hooks called with the same connection share one run (``postgres_seed = [catalog,
        open_orders]`` where ``open_orders`` requires ``catalog`` runs ``catalog`` once).
        """
        parent = context.current()
        run = _RUNS.get(connection) if connection is not None else None
        if run is None:
            run = ScenarioRun(run_seed=parent.run_seed if parent is not None else 0)
            if connection is not None:
                _RUNS[connection] = run
        stores = Stores(postgres=connection)
        if parent is not None:
            stores = parent.stores.merged(stores)
        return await run.ensure(self, stores=stores)

    def dependencies(self) -> list[Scenario]:
        """The scenarios this one requires, resolved (``IK-SEED-UNKNOWN-SCENARIO``)."""
        return [resolve(item, self) for item in self.requires]


def scenario(name: str | ScenarioFunction | None = None, *, requires: Sequence[str | Scenario] = ()) -> Any:
    """Decorator: ``@scenario``, ``@scenario("name")`` or ``@scenario("name", requires=[...])``."""

    def wrap(fn: ScenarioFunction, label: str | None) -> Scenario:
        owner = getattr(fn, "__qualname__", repr(fn))
        if not inspect.iscoroutinefunction(fn):
            raise invalid_declaration(owner, "@scenario", fn, "an async def function(ctx)")
        if isinstance(requires, str) or not all(isinstance(r, str | Scenario) for r in requires):
            raise invalid_declaration(
                owner, "requires", requires, "a list of scenario names or Scenario objects"
            )
        return Scenario(
            name=label or fn.__name__,
            function=fn,
            requires=tuple(requires),
            module=getattr(fn, "__module__", None),
        )

    if callable(name):
        return wrap(name, None)
    return lambda fn: wrap(fn, name)


def module_scenarios(module: Any) -> list[Scenario]:
    """The scenarios defined at the top level of ``module`` (a module or its name), by name."""
    if isinstance(module, str):
        module = sys.modules.get(module)
    if module is None:
        return []
    found = {value.name: value for value in vars(module).values() if isinstance(value, Scenario)}
    return [found[name] for name in sorted(found)]


def resolve(item: str | Scenario, owner: Scenario | None = None, *, module: Any = None) -> Scenario:
    """``item`` as a Scenario: itself, or the scenario of that name in the owner's module."""
    if isinstance(item, Scenario):
        return item
    where = module if module is not None else (owner.module if owner is not None else None)
    known = module_scenarios(where) if where is not None else []
    for candidate in known:
        if candidate.name == item:
            return candidate
    raise SeedError(
        ErrorCode.SEED_UNKNOWN_SCENARIO,
        name=item,
        by=owner.name if owner is not None else "the caller",
        known=", ".join(s.name for s in known) or "(none)",
    )


def plan(scenarios: Iterable[Scenario]) -> list[Scenario]:
    """``scenarios`` and what they require, each once, requirements first (``IK-SEED-SCENARIO-CYCLE``)."""
    ordered: list[Scenario] = []
    done: set[int] = set()
    path: list[Scenario] = []

    def visit(item: Scenario) -> None:
        if id(item) in done:
            return
        if any(item is p for p in path):
            cycle = [*path[path.index(item) :], item]
            raise SeedError(ErrorCode.SEED_SCENARIO_CYCLE, cycle=" -> ".join(s.name for s in cycle))
        path.append(item)
        for dependency in item.dependencies():
            visit(dependency)
        path.pop()
        done.add(id(item))
        ordered.append(item)

    for item in scenarios:
        visit(item)
    return ordered


@dataclass
class ScenarioRun:
    """Runs scenarios once each, in dependency order, and keeps their results."""

    run_seed: int = 0
    results: dict[str, Any] = field(default_factory=dict)
    #: Kafka messages the scenarios sent (declared topic, key, value, headers), in order.
    sent: list[Any] = field(default_factory=list)
    #: Called as ``progress(scenario, store, count)`` after each write of a scenario.
    progress: Callable[[str, str, int], None] | None = None
    _done: dict[int, Scenario] = field(default_factory=dict)

    def ran(self, item: Scenario) -> bool:
        return id(item) in self._done

    async def ensure(self, item: Scenario, *, stores: Stores) -> Any:
        """Run ``item`` (and what it requires) unless this run already did; return its result."""
        for step in plan([item]):
            if id(step) in self._done:
                continue
            ctx = SeedContext(run_seed=self.run_seed, name=f"scenario:{step.name}", stores=stores)
            if self.progress is not None:
                ctx.progress = functools.partial(self.progress, step.name)
            with context.activate(ctx):
                result = await step.function(
                    ScenarioContext(
                        name=step.name,
                        seed=ctx.seed,
                        run_seed=self.run_seed,
                        stores=stores,
                        results=self.results,
                    )
                )
            self.sent.extend(ctx.sent)
            self.results[step.name] = result
            self._done[id(step)] = step
        return self.results[item.name]

    async def ensure_all(self, items: Iterable[Scenario], *, stores: Stores) -> dict[str, Any]:
        for item in items:
            await self.ensure(item, stores=stores)
        return self.results
