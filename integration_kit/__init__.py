"""integration-kit: fast, reliable integration and e2e tests for Kafka, PostgreSQL and Redis."""

from integration_kit.config import Settings, load_settings
from integration_kit.errors import (
    ConfigError,
    ContractDefinitionError,
    ContractError,
    ErrorCode,
    HealthCheckError,
    IntegrationKitError,
    KafkaError,
    MockError,
    PostgresError,
    RedisError,
    ServiceError,
    UsageError,
    WaitTimeoutError,
    raises_code,
)
from integration_kit.waiting import Backoff, eventually, wait_until, wait_until_sync

__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "ConfigError",
    "ContractDefinitionError",
    "ContractError",
    "ErrorCode",
    "HealthCheckError",
    "IntegrationKitError",
    "KafkaError",
    "MockError",
    "PostgresError",
    "RedisError",
    "ServiceError",
    "Settings",
    "UsageError",
    "WaitTimeoutError",
    "__version__",
    "eventually",
    "load_settings",
    "raises_code",
    "wait_until",
    "wait_until_sync",
]
