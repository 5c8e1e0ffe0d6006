"""leaks.py: threads, child processes, sockets, env vars and files left behind are found."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration_kit.suite.leaks import StateSnapshot, leaked_state

pytestmark = pytest.mark.unit


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_nothing_changed_nothing_reported(tmp_path: Path) -> None:
    before = StateSnapshot.take(tmp_path)
    assert leaked_state(before, StateSnapshot.take(tmp_path)) == []


def test_every_kind_of_leak_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: threading.Event
) -> None:
    monkeypatch.delenv("IK_LEAK_TEST", raising=False)
    monkeypatch.setenv("IK_LEAK_CHANGED", "before")
    (tmp_path / ".hidden").mkdir()
    before = StateSnapshot.take(tmp_path)
    thread = threading.Thread(target=stop.wait, name="leaky-worker", daemon=True)
    thread.start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    monkeypatch.setenv("IK_LEAK_TEST", "secret-value")
    monkeypatch.setenv("IK_LEAK_CHANGED", "after")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "left.txt").write_text("x")
    (tmp_path / ".hidden" / "ignored").write_text("x")
    try:
        problems = leaked_state(before, StateSnapshot.take(tmp_path))
    finally:
        child.kill()
        child.wait()
        listener.close()
    text = "\n".join(problems)
    assert "thread(s) still running: leaky-worker" in text
    assert f"child process(es) still running: pid {child.pid}" in text
    assert "1 socket(s) left open" in text
    assert "environment variable(s) set: IK_LEAK_TEST" in text and "secret-value" not in text
    assert "environment variable(s) changed: IK_LEAK_CHANGED" in text
    assert "2 file(s) created under the rootdir: out, out/left.txt" in text
    # once cleaned up, the process state matches again (the files stay, as they were left)
    stop.set()
    thread.join()
    after = leaked_state(before, StateSnapshot.take(tmp_path))
    assert not [p for p in after if "thread" in p or "child" in p or "socket" in p]


def test_a_reaped_child_is_not_a_leak(tmp_path: Path) -> None:
    before = StateSnapshot.take()
    done = subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert done.returncode == 0 and leaked_state(before, StateSnapshot.take()) == []
