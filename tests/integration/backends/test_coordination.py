"""Run coordination without pytest-xdist: holders, the last one out, dead holders, reaping."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.local import LocalBackend, LocalService
from integration_kit.services.base import RedisService
from integration_kit.services.coordination import SharedServices, reap_runs
from integration_kit.services.ownership import pid_alive

pytestmark = pytest.mark.integration


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def redis_starter(
    local: LocalBackend, require_local: Callable[[str], None]
) -> Iterator[Callable[[], LocalService]]:
    require_local("redis")
    started: list[LocalService] = []

    def start() -> LocalService:
        service = local.start(RedisService(), timeout=30)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def test_first_caller_starts_later_callers_reuse_and_the_last_live_holder_stops(
    local_settings: Settings, redis_starter: Callable[[], LocalService]
) -> None:
    run = SharedServices("ik-test-run-1", settings=local_settings)
    run.register()
    (run.holders_dir / str(_dead_pid())).write_text("worker")  # a crashed worker
    endpoint = run.endpoint("redis", redis_starter)
    pid = run.handles()[0]["pid"]

    other = SharedServices("ik-test-run-1", settings=local_settings)
    assert other.endpoint("redis", lambda: pytest.fail("must not start a second Redis")) == endpoint

    assert run.release() is True, "dead holders do not count: this was the last one out"
    assert not pid_alive(pid)
    assert not run.dir.exists()


def test_a_live_holder_keeps_the_services_and_a_dead_run_is_reaped_later(
    local_settings: Settings, redis_starter: Callable[[], LocalService]
) -> None:
    run = SharedServices("ik-test-run-2", settings=local_settings)
    run.register()
    holder = subprocess.Popen(["sleep", "60"])
    try:
        (run.holders_dir / str(holder.pid)).write_text("worker")
        run.endpoint("redis", redis_starter)
        pid = run.handles()[0]["pid"]
        assert run.release() is False, "another holder is alive"
        assert pid_alive(pid)
    finally:
        holder.kill()
        holder.wait()
    assert reap_runs(local_settings) == 1
    assert not pid_alive(pid)
    assert not run.dir.exists()


def test_bad_run_id_is_a_coded_error(local_settings: Settings) -> None:
    with raises_code(ErrorCode.SVC_INVALID_RUN_ID):
        SharedServices("../escape", settings=local_settings)


def test_requested_port_in_use_is_a_coded_error(
    local: LocalBackend, require_local: Callable[[str], None], runtime_dir: Path
) -> None:
    require_local("redis")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with raises_code(ErrorCode.SVC_PORT_IN_USE) as caught:
            local.start(RedisService(port=port), timeout=10)
    assert caught[0].context["port"] == port
    assert not list((runtime_dir / "services").glob("*")), "nothing left behind"
