"""Fixtures for the reuse tests: warm sets in a runtime directory of the test's own, on the
local and the docker backend, all stopped (and checked gone) at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from warm_helpers import processes_in

from integration_kit.config import Settings, load_settings
from integration_kit.services.warm.store import list_sets

BACKENDS = ("local", "docker")


def stop_all_sets(settings: Settings) -> int:
    stopped = 0
    for warm in list_sets(settings):
        with warm.locked():
            stopped += warm.stop("test cleanup")
    return stopped


@pytest.fixture(params=BACKENDS)
def warm_settings(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings with reuse on for one backend and a private runtime directory."""
    backend = request.param
    runtime = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"ik-reuse-{uuid.uuid4().hex[:8]}"
    runtime.mkdir()
    settings = load_settings(backend=backend, runtime_dir=runtime, reuse=True, start_timeout=90)
    if backend == "docker":
        from integration_kit.services.backends.docker import DockerBackend

        ok, why = DockerBackend(settings).available()
        if not ok:
            shutil.rmtree(runtime, ignore_errors=True)
            pytest.skip(f"no docker engine: {why}")
    yield settings
    stop_all_sets(settings)
    for pid in processes_in(runtime):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(runtime, ignore_errors=True)
