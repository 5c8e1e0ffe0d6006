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
