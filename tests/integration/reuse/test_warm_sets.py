"""Warm sets against real servers (local and docker): found again, health-checked, replaced
when dead, stopped when idle, reaped when their owner is gone, never shared across projects."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
from pathlib import Path

import pytest
from warm_helpers import containers_of

from integration_kit.config import Settings
from integration_kit.services.base import PostgresService, RedisService
from integration_kit.services.warm.backend import WarmBackend, probe
from integration_kit.services.warm.store import WarmSet
from integration_kit.services.warm.watchdog import LEARN_INTERVAL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(condition, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def kill_server(settings: Settings, warm: WarmSet, kind: str) -> None:
    record = next(data for data in warm.services().values() if data["kind"] == kind)
    handle = record["handle"]
    if handle["backend"] == "local":
        os.killpg(os.getpgid(int(handle["pid"])), signal.SIGKILL)
    else:
        import docker

        client = docker.from_env()
        try:
            client.containers.get(handle["container_id"]).kill()
        finally:
            client.close()


def test_the_next_backend_finds_the_warm_services(warm_settings: Settings, tmp_path: Path) -> None:
    first = WarmBackend(warm_settings, root=tmp_path)
    pg = first.start(PostgresService(), timeout=90)
    redis = first.start(RedisService(), timeout=90)
    assert pg.started_here and redis.started_here
    first.close()

    second = WarmBackend(warm_settings, root=tmp_path)
    again = second.start(PostgresService(), timeout=90)
    assert not again.started_here
    assert again.endpoint == pg.endpoint
    assert second.start(RedisService(), timeout=90).endpoint == redis.endpoint
    probe("postgres", again.endpoint)
    # A spec with another configuration is another warm service.
    other = second.start(PostgresService(database="other"), timeout=90)
    assert other.started_here and other.endpoint.port != pg.endpoint.port
    assert len(second.warm.services()) == 3
    second.close()
    assert second.warm.live_users() == []


def test_two_projects_never_share_a_warm_set(warm_settings: Settings, tmp_path: Path) -> None:
    one = WarmBackend(warm_settings, root=tmp_path / "one")
    two = WarmBackend(warm_settings, root=tmp_path / "two")
    a = one.start(RedisService(), timeout=90)
    b = two.start(RedisService(), timeout=90)
    assert a.started_here and b.started_here
    assert a.endpoint.port != b.endpoint.port
    assert one.warm.name != two.warm.name
    one.close()
    two.close()


def test_a_killed_server_is_detected_and_replaced_with_a_log_line(
    warm_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = WarmBackend(warm_settings, root=tmp_path)
    old = first.start(PostgresService(), timeout=90)
    first.close()
    kill_server(warm_settings, first.warm, "postgres")
    with pytest.raises(OSError):
        wait_for(lambda: False, timeout=0.5) or probe("postgres", old.endpoint)

    second = WarmBackend(warm_settings, root=tmp_path)
    with caplog.at_level(logging.WARNING, logger="integration_kit.reuse"):
        new = second.start(PostgresService(), timeout=90)
    assert new.started_here
    probe("postgres", new.endpoint)
    lines = [r.getMessage() for r in caplog.records if "IK-SVC-WARM-DEAD" in r.getMessage()]
    assert lines and "does not answer" in lines[0] and old.endpoint.address in lines[0], caplog.text
    assert second.notes and "starting a new one" in second.notes[0]
    assert len(second.warm.services()) == 1
    second.close()


def test_the_idle_timeout_stops_the_set(warm_settings: Settings, tmp_path: Path) -> None:
    settings = warm_settings.replace(reuse_idle_timeout=1)
    backend = WarmBackend(settings, root=tmp_path)
    running = backend.start(RedisService(), timeout=90)
    handle = next(iter(backend.warm.services().values()))["handle"]
    watchdog = backend.warm.owner().pid
    # Past the idle timeout (and two watchdog polls) while this run still uses the set:
    assert wait_for(lambda: time.time() - backend.warm.last_used() > 1.5, timeout=10)
    assert backend.warm.exists(), "a set in use is not idle"
    backend.close()
    assert wait_for(lambda: not backend.warm.dir.exists(), timeout=20)
    assert wait_for(lambda: not _alive(watchdog), timeout=10)
    with pytest.raises(OSError):
        probe("redis", running.endpoint)
    if handle["backend"] == "docker":
        assert containers_of(settings, backend.warm.name) == []


def test_a_set_whose_directory_vanished_stops_its_local_servers(
    warm_settings: Settings, tmp_path: Path
) -> None:
    """The runtime directory deleted by hand takes the servers' pid files with it: no reaper
    could find them, so the watchdog stops the servers it remembers and exits."""
    if warm_settings.backend != "local":
        pytest.skip("containers carry their owner in their labels: the docker reaper finds them")
    settings = warm_settings.replace(reuse_idle_timeout=30)  # idle checks every 5 s
    backend = WarmBackend(settings, root=tmp_path)
    running = backend.start(RedisService(), timeout=90)
    handle = next(iter(backend.warm.services().values()))["handle"]
    server, watchdog = int(handle["pid"]), backend.warm.owner().pid
    backend.close()
    # the watchdog reads the set's servers every LEARN_INTERVAL, well within an idle check
    assert wait_for(lambda: time.time() - backend.warm.last_used() > 3 * LEARN_INTERVAL, timeout=5)
    shutil.rmtree(settings.runtime_dir)
    assert wait_for(lambda: not _alive(server), timeout=20), "the server outlived its set"
    assert wait_for(lambda: not _alive(watchdog), timeout=10)
    with pytest.raises(OSError):
        probe("redis", running.endpoint)
    Path(str(settings.runtime_dir)).mkdir()  # for the fixture's cleanup


def test_a_set_whose_watchdog_died_is_reaped_and_started_anew(
    warm_settings: Settings, tmp_path: Path
) -> None:
    first = WarmBackend(warm_settings, root=tmp_path)
    old = first.start(RedisService(), timeout=90)
    first.close()
    os.kill(first.warm.owner().pid, signal.SIGKILL)
    assert wait_for(lambda: not first.warm.watchdog_alive(), timeout=10)

    second = WarmBackend(warm_settings, root=tmp_path)
    second.reap()
    new = second.start(RedisService(), timeout=90)
    assert new.started_here
    assert second.warm.watchdog_alive()
    assert any("watchdog is gone" in note for note in second.notes)
    if new.endpoint.port != old.endpoint.port:
        with pytest.raises(OSError):
            probe("redis", old.endpoint)
    second.close()


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return False
