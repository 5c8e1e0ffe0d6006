"""services/interrupts.py and services/watch.py: interrupts during a stop are held back
(the second one aborts); deaths are seen, remembered and named; connection failures are
told from other failures. Real signals to this process, real child processes."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

import pytest

from integration_kit.errors import ErrorCode, has_code, raises_code
from integration_kit.services.backends.local.server import _zombie_exit_code, handle_exit
from integration_kit.services.base import RedisService, ServiceExit, ServiceSpec
from integration_kit.services.interrupts import child_pids, keep_stopping, sigterm_as_interrupt
from integration_kit.services.runtime import ServiceDir
from integration_kit.services.watch import DeathWatch, connection_failure
from integration_kit.waiting import wait_until_sync

pytestmark = pytest.mark.unit


def test_an_interrupt_during_the_block_waits_for_its_end() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), keep_stopping():
        signal.raise_signal(signal.SIGINT)  # its handler has run on return: held, not raised
        done.append("stopped")
    assert done == ["stopped"]


def test_a_second_interrupt_abandons_the_block() -> None:
    before = signal.getsignal(signal.SIGINT)  # the kit's exit guard may hold it in a long run
    reached = []
    with pytest.raises(KeyboardInterrupt, match="again while stopping"), keep_stopping():
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        reached.append("never")
    assert reached == []
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored


def test_blocks_nest_and_sigterm_is_held_too() -> None:
    previous = sigterm_as_interrupt()
    try:
        order = []
        with pytest.raises(KeyboardInterrupt), keep_stopping():
            with keep_stopping():
                signal.raise_signal(signal.SIGTERM)
                order.append("inner done")
            order.append("outer done")
        assert order == ["inner done", "outer done"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_without_an_interrupt_nothing_is_raised() -> None:
    before = signal.getsignal(signal.SIGINT)
    with keep_stopping():
        pass
    assert signal.getsignal(signal.SIGINT) is before


def test_child_pids_lists_live_children_only() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in child_pids()
    finally:
        child.kill()
    # a zombie soon (not waited for yet): not live
    wait_until_sync(lambda: child.pid not in child_pids(), timeout=5, what="the child to die")
    child.wait()


def test_a_killed_servers_exit_code_is_read_from_its_zombie_or_its_pid_file(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    service_dir = ServiceDir(root / "redis-x")
    service_dir.path.mkdir()
    (service_dir.path / "redis.log").write_text("line 1\nline 2\n")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    service_dir.write(pid=child.pid, kind="redis")
    handle = {"backend": "local", "dir": str(service_dir.path), "pid": child.pid}
    assert handle_exit(handle) is None  # running
    child.send_signal(signal.SIGKILL)
    # as Popen would report it, once the kernel has made it a zombie
    wait_until_sync(lambda: _zombie_exit_code(child.pid), equals=-9, timeout=5, what="the zombie")
    ended = handle_exit(handle)
    assert ended is not None and ended.exit_code == -9 and "signal 9" in ended.how
    assert ended.log_tail.endswith("line 2")
    child.wait()  # reaped: only the pid file can tell now
    assert handle_exit(handle) is not None and handle_exit(handle).exit_code is None  # type: ignore[union-attr]
    service_dir.update(exit_code=-9)
    assert handle_exit(handle).exit_code == -9  # type: ignore[union-attr]


@dataclass
class _Service:
    spec: ServiceSpec
    ended: ServiceExit | None = None
    asked: list[float] = field(default_factory=list)
    backend_name: str = "local"
    endpoint: object = None
    started_here: bool = True

    def exit_status(self) -> ServiceExit | None:
        self.asked.append(time.monotonic())
        return self.ended

    def log_tail(self, lines: int = 40) -> str:
        return ""

    def stop(self) -> None:
        pass

    def detach(self) -> dict[str, str]:
        return {"backend": "local"}


def test_a_death_is_named_and_remembered() -> None:
    service = _Service(RedisService())
    watch = DeathWatch()
    watch.check([service])  # alive: nothing
    service.ended = ServiceExit(how="its process 7 was killed by signal 9", exit_code=-9, log_tail="bye")
    with raises_code(ErrorCode.SVC_DIED) as caught:
        watch.check([service])
    error = caught[0]
    assert error.context["service"] == "redis" and error.context["exit_code"] == -9
    assert "bye" in str(error) and "'redis' (local)" in str(error)
    service.ended = None  # it cannot come back: the death is remembered
    asked = len(service.asked)
    with raises_code(ErrorCode.SVC_DIED) as again:
        watch.check([service])
    assert len(service.asked) == asked  # no second look needed
    assert again[0] is not error  # each test gets its own error object


def test_grace_keeps_looking_until_the_death_shows() -> None:
    service = _Service(RedisService())
    watch = DeathWatch()
    started = time.monotonic()
    watch.check([service], grace=0.2)  # alive all along: returns after the grace
    assert time.monotonic() - started >= 0.2 and len(service.asked) > 2


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True),
        (OSError(errno.ECONNRESET, "reset"), True),
        (RuntimeError("wrapped"), False),
        (AssertionError("1 != 2"), False),
        (type("ConnectionDoesNotExistError", (Exception,), {})("gone"), True),
    ],
)
def test_connection_failures_are_told_apart(exc: BaseException, expected: bool) -> None:
    assert connection_failure(exc) is expected


def test_a_connection_failure_is_found_in_the_cause_chain() -> None:
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("the driver gave up") from inner
    except RuntimeError as outer:
        assert connection_failure(outer)
        assert not has_code(outer, ErrorCode.SVC_DIED)
