"""The pytest plugin (entry point ``pytest11``): markers, options, fixtures.

Kept light: nothing heavy is imported until a hook or fixture needs it.
"""

from __future__ import annotations

import pytest

MARKERS = {
    "unit": "fast tests with no real services",
    "integration": "tests against real PostgreSQL, Redis or Kafka",
    "e2e": "end-to-end tests of a service under test with its real dependencies",
    "contract": "contract tests between services",
    "slow": "tests that take seconds; deselect with -m 'not slow'",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-backend",
        dest="ik_backend",
        default=None,
        choices=("auto", "docker", "local", "external"),
        help="how services are run (default: auto, or INTEGRATION_KIT_BACKEND)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def _external_endpoint(kind: str) -> object:
    """First version: endpoints of already-running services from settings (external backend)."""
    from integration_kit.config import load_settings
    from integration_kit.services.base import Endpoint

    settings = load_settings()
    raw = {
        "postgres": settings.postgres_url,
        "redis": settings.redis_url,
        "kafka": settings.kafka_bootstrap_servers,
    }[kind]
    if raw is None:
        pytest.skip(f"no {kind} service: set INTEGRATION_KIT_{kind.upper()}_URL")
    if kind == "kafka":
        host, _, port = raw.split(",")[0].rpartition(":")
        return Endpoint(host=host, port=int(port))
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    database = parts.path.lstrip("/") or None
    return Endpoint(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (5432 if kind == "postgres" else 6379),
        user=parts.username,
        password=parts.password,
        database=database,
    )


@pytest.fixture(scope="session")
def ik_postgres() -> object:
    """Endpoint of the run's PostgreSQL."""
    return _external_endpoint("postgres")


@pytest.fixture(scope="session")
def ik_redis() -> object:
    """Endpoint of the run's Redis."""
    return _external_endpoint("redis")


@pytest.fixture(scope="session")
def ik_kafka() -> object:
    """Endpoint of the run's Kafka."""
    return _external_endpoint("kafka")
