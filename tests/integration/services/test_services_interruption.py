"""Interrupted runs leave nothing behind: SIGINT/SIGTERM stop the services, and what a
SIGKILLed run left is removed by the next run's reaper. pytest runs in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_kit.config import Settings
from integration_kit.services import ownership
from integration_kit.services.backends.docker import DockerBackend
from integration_kit.services.backends.docker.container import labelled_containers

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INNER_TEST = """
import os, pathlib, time

def test_hold(ik_redis):
    pathlib.Path(os.environ["IK_MARKER"]).write_text(str(ik_redis.port))
    time.sleep(300)
"""
INNER_QUICK_TEST = """
def test_quick(ik_redis):
    assert ik_redis.port > 0
"""
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


def _env(marker: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INTEGRATION_KIT_"))}
    for key in (
        "INTEGRATION_KIT_POSTGRES_IMAGE",
        "INTEGRATION_KIT_REDIS_IMAGE",
        "INTEGRATION_KIT_KAFKA_IMAGE",
    ):
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(INTEGRATION_KIT_BACKEND="docker", TESTCONTAINERS_RYUK_DISABLED="true", IK_MARKER=str(marker))
    return env


def _spawn(tmp_path: Path, source: str, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "pytest.ini").write_text(INI)
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(source)
    marker = tmp_path / f"{name}.ready"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(test_file),
        ],
        cwd=tmp_path,
        env=_env(marker),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, marker


def _wait_for(marker: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            output = proc.stdout.read().decode() if proc.stdout else ""
            pytest.fail(f"inner pytest exited early ({proc.returncode}):\n{output}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("inner pytest never reached its test")
        time.sleep(0.1)


def _containers_of(backend: DockerBackend, pid: int) -> list[tuple[str, dict[str, str]]]:
    return labelled_containers(backend.client(), f"{ownership.LABEL_PID}={pid}")


@pytest.fixture
def backend(docker_settings: Settings) -> Iterator[DockerBackend]:
    yield DockerBackend(docker_settings)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_leaves_no_containers(tmp_path: Path, backend: DockerBackend, signum: int) -> None:
    proc, marker = _spawn(tmp_path, INNER_TEST, "hold")
    try:
        _wait_for(marker, proc)
        assert len(_containers_of(backend, proc.pid)) == 1
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert _containers_of(backend, proc.pid) == [], output.decode()


def test_killed_run_is_reaped_by_the_next_run(tmp_path: Path, backend: DockerBackend) -> None:
    proc, marker = _spawn(tmp_path, INNER_TEST, "hold")
    try:
        _wait_for(marker, proc)
    finally:
        proc.kill()  # SIGKILL: no cleanup can run
        proc.wait()
    leftovers = _containers_of(backend, proc.pid)
    assert len(leftovers) == 1

    # The next run reaps the dead run's container at its session start.
    second, _ = _spawn(tmp_path, INNER_QUICK_TEST, "quick")
    output, _ = second.communicate(timeout=180)
    assert second.returncode == 0, output.decode()
    assert _containers_of(backend, proc.pid) == []
    assert _containers_of(backend, second.pid) == []  # and it cleaned up after itself


def test_interrupted_while_starting_leaves_no_containers(tmp_path: Path, backend: DockerBackend) -> None:
    proc, marker = _spawn(tmp_path, INNER_TEST.replace("ik_redis", "ik_kafka"), "hold")
    try:
        deadline = time.monotonic() + 120
        while not _containers_of(backend, proc.pid):  # created, and Kafka takes seconds to be ready
            assert proc.poll() is None and time.monotonic() < deadline, "inner run never created a container"
            time.sleep(0.05)
        assert not marker.exists()  # still starting
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert _containers_of(backend, proc.pid) == [], output.decode()
