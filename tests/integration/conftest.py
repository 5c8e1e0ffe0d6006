"""Fixtures shared by the integration suites: a docker backend on the local images, and
inner pytest runs on the external backend (to kill one and see what the next one does)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration_kit.config import Settings, load_settings
from integration_kit.services.backends.docker import DockerBackend
from integration_kit.services.base import Endpoint
from integration_kit.services.serve import environment


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


_INNER_FLAGS = ("-p", "no:randomly", "-p", "no:cacheprovider")


@dataclass
class InnerExternalRuns:
    """Inner pytest runs of one test module (``source``) on the external backend, against
    ``services``, with a cache (ownership registry) and runtime directory of their own
    under ``root``. Each test writes what it wants to tell into ``$MARKER``."""

    root: Path
    source: str
    services: Mapping[str, Endpoint]
    env: Mapping[str, str]

    def spawn(self, test: str, marker: Path) -> subprocess.Popen[str]:
        (self.root / "test_inner.py").write_text(textwrap.dedent(self.source))
        (self.root / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTEGRATION_KIT_", "PYTEST_XDIST"))}
        env.update(environment(dict(self.services)))
        env["INTEGRATION_KIT_CACHE_DIR"] = str(self.root / "cache")
        env["INTEGRATION_KIT_RUNTIME_DIR"] = str(self.root / "runtime")
        env.update(self.env, MARKER=str(marker))
        return subprocess.Popen(
            [sys.executable, "-m", "pytest", f"test_inner.py::{test}", *_INNER_FLAGS],
            cwd=self.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @staticmethod
    def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120.0) -> str:
        """What the inner test wrote into ``path`` (AssertionError if the run ended first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text():
                return path.read_text()
            if process.poll() is not None:
                raise AssertionError(
                    f"inner run ended early:\n{process.stdout.read() if process.stdout else ''}"
                )
            time.sleep(0.1)
        process.kill()
        raise AssertionError("the inner test never started")


InnerRunsFactory = Callable[..., InnerExternalRuns]


@pytest.fixture
def inner_external_runs(tmp_path: Path) -> InnerRunsFactory:
    """``inner_external_runs(source, services, env={})``: :class:`InnerExternalRuns` in ``tmp_path``."""

    def make(
        source: str, services: Mapping[str, Endpoint], env: Mapping[str, str] | None = None
    ) -> InnerExternalRuns:
        return InnerExternalRuns(tmp_path, source, services, dict(env or {}))

    return make
