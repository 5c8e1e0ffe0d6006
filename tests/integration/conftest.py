"""Fixtures shared by the integration suites: a docker backend on the local images."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration_kit.config import Settings, load_settings
from integration_kit.services.backends.docker import DockerBackend


@pytest.fixture(scope="session")
def docker_settings() -> Settings:
    """Settings for the docker backend (images from INTEGRATION_KIT_*_IMAGE, as CI provisions)."""
    settings = load_settings(backend="docker", start_timeout=90)
    ok, why = DockerBackend(settings).available()
    if not ok:
        pytest.skip(f"no docker engine: {why}")
    return settings


@pytest.fixture(scope="session")
def docker_backend(docker_settings: Settings) -> Iterator[DockerBackend]:
    backend = DockerBackend(docker_settings)
    yield backend
    backend.close()
