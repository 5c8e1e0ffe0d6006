"""Scenarios: named, seeded, reusable sets of test data.

A scenario is an async function of a connection, wrapped so that every run produces
the same data (factory_boy's and Faker's random generators are reseeded first). Use
scenarios as ``postgres_seed`` entries or call them from any test::

    @scenario(seed=7)
    async def catalog(connection):
        return await ProductFactory.insert(connection, size=20)

    class TestShop(PostgresTestCase):
        postgres_seed = [catalog]
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import factory.random

ScenarioFunction = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True)
class Scenario:
    """A seeded data set. Calling it with a connection writes the data and returns its result."""

    name: str
    function: ScenarioFunction
    seed: int

    async def __call__(self, connection: Any) -> Any:
        factory.random.reseed_random(f"{self.name}:{self.seed}")
        return await self.function(connection)


def scenario(function: ScenarioFunction | None = None, *, seed: int = 0, name: str | None = None) -> Any:
    """Decorator turning an async ``function(connection)`` into a :class:`Scenario`."""

    def wrap(fn: ScenarioFunction) -> Scenario:
        return Scenario(name=name or fn.__name__, function=fn, seed=seed)

    return wrap(function) if function is not None else wrap
