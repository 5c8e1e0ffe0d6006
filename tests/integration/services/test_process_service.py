"""ProcessService: the user's own app as a subprocess, healthy or failing fast."""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, UsageError, raises_code
from integration_kit.services.base import Endpoint, RedisService
from integration_kit.services.process import (
    CommandHealth,
    HttpHealth,
    ProcessService,
    RunningProcess,
    TcpHealth,
    start_process,
)
from integration_kit.services.session import ServiceSession

pytestmark = pytest.mark.integration

APP = str(Path(__file__).parent / "apps" / "http_app.py")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def app_spec() -> ProcessService:
    return ProcessService(
        name="app",
        command=[sys.executable, APP, "{port}"],
        env={"GREETING": "hello from {port}"},
        health=HttpHealth("/health"),
    )


@pytest.fixture
def started(app_spec: ProcessService) -> Iterator[RunningProcess]:
    running = start_process(app_spec, endpoints={}, timeout=30)
    yield running
    running.stop()


def test_app_starts_healthy_with_placeholders_filled(started: RunningProcess) -> None:
    assert _get(f"{started.url}/health") == "ok"
    assert _get(f"{started.url}/env/GREETING") == f"hello from {started.port}"
    assert f"app: listening on {started.port}" in started.log_text()


def test_stop_ends_the_process_group(app_spec: ProcessService) -> None:
    running = start_process(app_spec, endpoints={}, timeout=30)
    pid = running.pid
    running.stop()
    running.stop()  # idempotent
    assert running.process.returncode is not None
    assert not _pid_alive(pid)
    assert not running.log_path.exists()  # its temp dir is gone too


def test_crashing_app_fails_fast_with_exit_code_and_log_tail() -> None:
    spec = ProcessService(
        name="crasher",
        command=[sys.executable, "-c", "import sys; print('boom: missing DATABASE_URL'); sys.exit(3)"],
        health=HttpHealth("/health"),
    )
    # PROCESS_EXITED (not NOT_HEALTHY at the deadline) is the proof it failed fast.
    with raises_code(ErrorCode.SVC_PROCESS_EXITED) as caught:
        start_process(spec, endpoints={}, timeout=120)
    assert caught[0].context["returncode"] == 3
    assert caught[0].log_tail is not None and "boom: missing DATABASE_URL" in caught[0].log_tail


def test_never_healthy_app_fails_at_the_deadline_with_its_log() -> None:
    spec = ProcessService(
        name="silent",
        command=[
            sys.executable,
            "-c",
            "import time; print('warming up forever', flush=True); time.sleep(60)",
        ],
        health=TcpHealth(),
    )
    with raises_code(ErrorCode.SVC_NOT_HEALTHY) as caught:
        start_process(spec, endpoints={}, timeout=1.5)
    assert caught[0].log_tail is not None and "warming up forever" in caught[0].log_tail
    assert "tcp://127.0.0.1" in caught[0].context["cause"]


def test_missing_command() -> None:
    spec = ProcessService(name="ghost", command=["ik-no-such-command-anywhere", "--port", "{port}"])
    with raises_code(ErrorCode.SVC_COMMAND_NOT_FOUND) as caught:
        start_process(spec, endpoints={}, timeout=5)
    assert caught[0].context["command"] == "ik-no-such-command-anywhere"


def test_fixed_port_already_taken(app_spec: ProcessService) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        spec = ProcessService(name="app", command=app_spec.command, port=port)
        with raises_code(ErrorCode.SVC_PORT_IN_USE) as caught:
            start_process(spec, endpoints={}, timeout=5)
    assert caught[0].context["port"] == port


def test_command_health_check() -> None:
    spec = ProcessService(
        name="app",
        command=[sys.executable, APP, "{port}"],
        health=CommandHealth(
            [sys.executable, "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/health')"]
        ),
    )
    running = start_process(spec, endpoints={}, timeout=30)
    try:
        assert _get(f"{running.url}/health") == "ok"
    finally:
        running.stop()


def test_unknown_placeholder_is_a_usage_error() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        ProcessService(name="app", command=["x", "{mongo.url}"])
    with pytest.raises(UsageError):
        ProcessService(command=["x"])  # no name


def test_dependencies_come_from_placeholders() -> None:
    spec = ProcessService(
        name="app",
        command=["x", "{port}"],
        env={"DB": "{postgres.dsn}", "KAFKA": "{kafka.bootstrap_servers}"},
        requires=[RedisService(name="cache")],
    )
    assert [(dep.kind, dep.key) for dep in spec.dependencies()] == [
        ("redis", "cache"),
        ("postgres", "postgres"),
        ("kafka", "kafka"),
    ]


@pytest.fixture
def redis_settings(ik_redis: Endpoint) -> Settings:
    """Whatever Redis the run uses (URL or container), as an external service for a session."""
    return load_settings(backend="external", redis_url=ik_redis.url)


def test_session_starts_the_app_after_its_dependency(redis_settings: Settings) -> None:
    spec = ProcessService(
        name="app",
        command=[sys.executable, APP, "{port}"],
        env={"REDIS_URL": "{redis.url}"},
        health=HttpHealth("/health"),
    )
    with ServiceSession(redis_settings) as session:
        app = session.get(spec)
        assert isinstance(app, RunningProcess)
        assert _get(f"{app.url}/redis") == "True"  # it reached Redis through the placeholder
        pid = app.pid
    assert not _pid_alive(pid)
