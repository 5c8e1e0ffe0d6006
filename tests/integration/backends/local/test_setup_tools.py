"""Setup tools (initdb and the like) stopped mid-way leave nothing: no process, no /dev/shm
segment, no directory.

initdb runs a bootstrap ``postgres`` that, when it is signalled or killed itself, leaves its
dynamic shared memory segments in /dev/shm (``PostgreSQL.<n>``, 1 MB a pair); before this
was fixed, every run interrupted during initdb left a pair there (subprocess.run SIGKILLs
its child on any exception).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_scan import processes_in

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.local import files
from integration_kit.services.backends.local.binaries import Binaries
from integration_kit.services.backends.local.files import RunAs, run_tool
from integration_kit.services.backends.local.postgres import INITDB_ARGS
from integration_kit.services.base import PostgresService
from integration_kit.waiting import Backoff, wait_until_sync

pytestmark = pytest.mark.integration

SHM = Path("/dev/shm")


def _segments() -> set[str]:
    return {p.name for p in SHM.glob("PostgreSQL.*")} if SHM.is_dir() else set()


def _lasting_new_segments(before: set[str], *, settle: float = 5.0) -> set[str]:
    """Segments made since ``before`` that are still there after ``settle`` s (another
    worker's initdb makes and removes its own within a second or two)."""
    deadline = time.monotonic() + settle
    new = _segments() - before
    while new and time.monotonic() < deadline:
        time.sleep(0.2)
        new &= _segments()
    return new


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


#: The kit's own path: a setup tool in the main thread, or in a start thread while the
#: main thread waits (the exit guard stops it then).
SCRIPT = """
import sys, threading, time
from pathlib import Path
from integration_kit.services.backends.local.files import RunAs, run_tool
initdb, data, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
argv = [initdb, "-D", str(data), "-U", "test", "-A", "trust", *sys.argv[4:]]
def run():
    run_tool(argv, RunAs.for_postgres(), time.monotonic() + 60, what="initdb", cwd=data.parent)
print("ready", flush=True)
if mode == "main":
    run()
else:  # as a ServiceSession: SIGTERM raises KeyboardInterrupt, services start in threads
    from integration_kit.services.interrupts import sigterm_as_interrupt
    sigterm_as_interrupt()
    threading.Thread(target=run, daemon=True).start()
    time.sleep(60)
time.sleep(60)
"""


@pytest.fixture
def initdb(local_settings) -> str:  # type: ignore[no-untyped-def]
    found = Binaries(local_settings).locate("postgres", None)
    if "initdb" not in found.paths:
        pytest.skip("no initdb here")
    return str(found.paths["initdb"])


def _running(work: Path, phase: str) -> bool:
    """Whether initdb's ``postgres --<phase>`` (boot, single) runs for ``work``."""
    for pid in processes_in(work):
        with contextlib.suppress(OSError):
            if f"--{phase}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
    return False


@pytest.mark.parametrize("phase", ["boot", "single"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("mode", ["main", "thread"])
def test_initdb_interrupted_leaves_no_process_or_segment(
    initdb: str, runtime_dir: Path, mode: str, signum: int, phase: str
) -> None:
    """A signal while initdb runs its bootstrap ``postgres --boot`` or ``--single`` steps."""
    work = runtime_dir / "work"  # pytest's tmp_path is private to root; initdb runs as postgres
    work.mkdir()
    RunAs.for_postgres().chown(work)
    before = _segments()
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, initdb, str(work / "data"), mode, *INITDB_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        wait_until_sync(
            lambda: _running(work, phase), timeout=30, backoff=Backoff(initial=0.002, maximum=0.01)
        )
        process.send_signal(signum)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    left = processes_in(work)  # the moment the interrupted process is gone
    assert not left, f"the interrupted initdb's processes outlived it: {left}\n{output}"
    assert not _lasting_new_segments(before), "the interrupted initdb left /dev/shm segments"
    assert process.returncode != 0


def test_a_tool_that_ignores_sigterm_is_killed_with_its_children(tmp_path: Path) -> None:
    child_pid = tmp_path / "child"
    script = f"trap '' TERM; sh -c 'trap \"\" TERM; echo $$ > {child_pid}; sleep 60' & wait"
    process = subprocess.Popen(
        ["sh", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_until_sync(child_pid.exists, timeout=10)
        started = time.monotonic()
        files.stop_tool(process, drain=True, grace=0.5)
        assert time.monotonic() - started < 5
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever the outcome, nothing stays
    assert process.returncode == -signal.SIGKILL
    # the killed child is reaped by init, not at once
    wait_until_sync(lambda: _group_gone(process.pid), timeout=2, what="the tool's children gone")


def test_a_tool_past_its_deadline_is_a_coded_error_and_stopped(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild"
    argv = ["sh", "-c", f"sh -c 'echo $$ > {marker}; exec sleep 60' & echo started; wait"]
    with raises_code(ErrorCode.SVC_START_FAILED) as caught:
        run_tool(argv, RunAs.current(), time.monotonic() + 0.5, what="a slow tool", cwd=tmp_path)
    assert "timed out" in str(caught[0])
    grandchild = int(marker.read_text())
    gone = lambda: not Path(f"/proc/{grandchild}").exists()  # noqa: E731
    try:
        wait_until_sync(gone, timeout=5, what="the tool's own child gone after the timeout")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)
    assert not files._IN_FLIGHT


def test_postgres_spec_runs_initdb_from_the_found_binaries(local_settings) -> None:  # type: ignore[no-untyped-def]
    """The fixture above finds initdb where the backend does (else these tests would skip)."""
    found = Binaries(local_settings).require(PostgresService())
    assert "initdb" in found.paths
