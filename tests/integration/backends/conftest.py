"""Fixtures for the backend tests: settings with a private runtime directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from process_scan import processes_in

from integration_kit.config import Settings, load_settings
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.process import DEFAULT_SPECS


def _fast_tmp() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """A runtime directory of this test's own (on tmpfs where there is one)."""
    path = _fast_tmp() / f"ik-test-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    yield path
    # A test that crashes a process on purpose (os._exit) may leave its cache copy running.
    for pid in processes_in(path):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
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
        ok, why = local.can_run(DEFAULT_SPECS[kind]())
        if not ok:
            pytest.skip(f"local {kind} not installed here: {why}")

    return require
