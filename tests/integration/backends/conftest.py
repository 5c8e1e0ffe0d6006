"""Fixtures for the backend tests: settings with a private runtime directory."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration_kit.config import Settings, load_settings
from integration_kit.services.backends.local import LocalBackend


def _fast_tmp() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A runtime directory of this test's own (on tmpfs where there is one)."""
    path = _fast_tmp() / f"ik-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def local_settings(runtime_dir: Path) -> Settings:
    """Settings for the local backend (Kafka home from INTEGRATION_KIT_KAFKA_HOME or the cache)."""
    return load_settings(backend="local", runtime_dir=runtime_dir, start_timeout=60)


@pytest.fixture
def local(local_settings: Settings) -> Iterator[LocalBackend]:
    backend = LocalBackend(local_settings)
    yield backend
    backend.wait_background()


@pytest.fixture
def require_local(local: LocalBackend) -> Callable[[str], None]:
    """``require_local("kafka")`` skips the test, saying why, where the binaries are missing."""

    def require(kind: str) -> None:
        ok, why = local.can_run(kind)
        if not ok:
            pytest.skip(f"local {kind} not installed here: {why}")

    return require
