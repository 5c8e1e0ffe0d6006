"""Seeding: factory_boy factories written to PostgreSQL, Kafka and Redis, and scenarios.

Public API (see docs/seeding.md). Names are imported on first use, so the base classes
can use the hooks without importing factory_boy or the drivers; the factory modules
check factory-boy's and Faker's versions (``IK-DEP-*``) when they are first imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports

_EXPORTS = {
    "Invalid": "integration_kit.seeding.validation",
    "KafkaMessageFactory": "integration_kit.seeding.kafka",
    "OutgoingMessage": "integration_kit.seeding.kafka",
    "PostgresFactory": "integration_kit.seeding.postgres",
    "RedisEntry": "integration_kit.seeding.redis",
    "RedisFactory": "integration_kit.seeding.redis",
    "Scenario": "integration_kit.seeding.scenarios",
    "ScenarioContext": "integration_kit.seeding.scenarios",
    "ScenarioRun": "integration_kit.seeding.scenarios",
    "SeedContext": "integration_kit.seeding.context",
    "SeedFactory": "integration_kit.seeding.base",
    "SentMessage": "integration_kit.seeding.kafka",
    "Stores": "integration_kit.seeding.context",
    "current": "integration_kit.seeding.context",
    "derive_seed": "integration_kit.seeding.context",
    "module_scenarios": "integration_kit.seeding.scenarios",
    "scenario": "integration_kit.seeding.scenarios",
    "use": "integration_kit.seeding.context",
}

if TYPE_CHECKING:
    from integration_kit.seeding.base import SeedFactory
    from integration_kit.seeding.context import SeedContext, Stores, current, derive_seed, use
    from integration_kit.seeding.kafka import KafkaMessageFactory, OutgoingMessage, SentMessage
    from integration_kit.seeding.postgres import PostgresFactory
    from integration_kit.seeding.redis import RedisEntry, RedisFactory
    from integration_kit.seeding.scenarios import (
        Scenario,
        ScenarioContext,
        ScenarioRun,
        module_scenarios,
        scenario,
    )
    from integration_kit.seeding.validation import Invalid


def _check_dependencies() -> None:
    from integration_kit.dependencies import require

    require("factory-boy", feature="seeding (integration_kit.seeding)")
    require("Faker", feature="seeding (integration_kit.seeding)")


__getattr__ = lazy_exports(__name__, _EXPORTS, before_import=_check_dependencies)

__all__ = [
    "Invalid",
    "KafkaMessageFactory",
    "OutgoingMessage",
    "PostgresFactory",
    "RedisEntry",
    "RedisFactory",
    "Scenario",
    "ScenarioContext",
    "ScenarioRun",
    "SeedContext",
    "SeedFactory",
    "SentMessage",
    "Stores",
    "current",
    "derive_seed",
    "module_scenarios",
    "scenario",
    "use",
]
