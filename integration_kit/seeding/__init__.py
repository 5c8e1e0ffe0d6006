"""Seeding: factory_boy factories persisted through asyncpg, and seeded scenarios."""

from integration_kit.dependencies import require

require("factory-boy", feature="seeding (integration_kit.seeding)")
require("Faker", feature="seeding (integration_kit.seeding)")

from integration_kit.seeding.factories import TableFactory
from integration_kit.seeding.scenarios import Scenario, scenario

__all__ = ["Scenario", "TableFactory", "scenario"]
