"""integration-kit: fast, reliable integration and e2e tests for Kafka, PostgreSQL and Redis."""

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports
from integration_kit.config import Settings, load_settings
from integration_kit.errors import (
    ConfigError,
    ContractDefinitionError,
    ContractError,
    ErrorCode,
    HealthCheckError,
    IntegrationKitError,
    KafkaError,
    MetricsError,
    MockError,
    PostgresError,
    RedisError,
    ServiceError,
    SuiteError,
    UsageError,
    WaitTimeoutError,
    has_code,
    raises_code,
)
from integration_kit.services.base import (
    Endpoint,
    KafkaService,
    PostgresService,
    RedisService,
)
from integration_kit.testcase import ServiceTestCase
from integration_kit.waiting import Backoff, eventually, wait_until, wait_until_sync

if TYPE_CHECKING:
    from integration_kit.mocks import MockKafkaCluster, MockRedisClient, VirtualClock
    from integration_kit.services.process import CommandHealth, HttpHealth, ProcessService, TcpHealth
    from integration_kit.services.session import ServiceSession
    from integration_kit.testcase import KafkaTestCase, PostgresTestCase, RedisTestCase

# Names whose modules are imported on first use (PEP 562): the test-case mixins import
# their layers' drivers, and the mocks import fakeredis and aiokafka.
_LAZY = {
    "CommandHealth": "integration_kit.services.process",
    "HttpHealth": "integration_kit.services.process",
    "KafkaTestCase": "integration_kit.testcase",
    "MockKafkaCluster": "integration_kit.mocks",
    "MockRedisClient": "integration_kit.mocks",
    "PostgresTestCase": "integration_kit.testcase",
    "ProcessService": "integration_kit.services.process",
    "RedisTestCase": "integration_kit.testcase",
    "ServiceSession": "integration_kit.services.session",
    "TcpHealth": "integration_kit.services.process",
    "VirtualClock": "integration_kit.mocks",
}


__getattr__ = lazy_exports(__name__, _LAZY)


__version__ = "0.1.0"

__all__ = [
    "Backoff",
    "CommandHealth",
    "ConfigError",
    "ContractDefinitionError",
    "ContractError",
    "Endpoint",
    "ErrorCode",
    "HealthCheckError",
    "HttpHealth",
    "IntegrationKitError",
    "KafkaError",
    "KafkaService",
    "KafkaTestCase",
    "MetricsError",
    "MockError",
    "MockKafkaCluster",
    "MockRedisClient",
    "PostgresError",
    "PostgresService",
    "PostgresTestCase",
    "ProcessService",
    "RedisError",
    "RedisService",
    "RedisTestCase",
    "ServiceError",
    "ServiceSession",
    "ServiceTestCase",
    "Settings",
    "SuiteError",
    "TcpHealth",
    "UsageError",
    "VirtualClock",
    "WaitTimeoutError",
    "__version__",
    "eventually",
    "has_code",
    "load_settings",
    "raises_code",
    "wait_until",
    "wait_until_sync",
]
