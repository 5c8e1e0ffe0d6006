"""Interrupts (Ctrl-C, SIGTERM) while services stop: a stop that is interrupted goes on.

* :func:`keep_stopping`: around code that stops services. The first SIGINT or SIGTERM that
  arrives inside is held back until the block ends, then delivered as usual (so the run
  still ends as interrupted); a second one aborts at once (``KeyboardInterrupt``), and
  what is left is removed by the next run's reaper (its owner is then dead).
* :func:`sigterm_as_interrupt`: SIGTERM raises ``KeyboardInterrupt``, so that the normal
  unwinding (pytest's teardown, the xdist controller's shutdown of its workers) runs.

Both act in the main thread only (Python runs signal handlers there); elsewhere they do
nothing. Blocks nest: only the outermost one holds signals back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("integration_kit.services")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_depth = 0


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def keep_stopping() -> Iterator[None]:
    """Hold back the first SIGINT/SIGTERM until the block ends; a second one aborts."""
    global _depth
    if not _in_main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    held: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        if held:
            raise KeyboardInterrupt(f"signal {signum} again while stopping services: stop abandoned")
        held.append(signum)
        log.warning(
            "signal %d while stopping services: finishing the stop first (send it again to abort; "
            "the next run then removes what is left)",
            signum,
        )

    previous: dict[int, Any] = {}
    for signum in map(int, STOP_SIGNALS):
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signum) != signal.SIG_IGN:  # an ignored signal stays ignored
                previous[signum] = signal.signal(signum, hold)
    _depth = 1
    try:
        yield
    finally:
        _depth = 0
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    if held:  # the stop is done: now let the interrupt do what it would have done
        signal.raise_signal(held[0])


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _interrupt_children(signum: int, frame: FrameType | None) -> None:
    for pid in child_pids():
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
    raise KeyboardInterrupt(f"signal {signum}")


def child_pids(parent: int | None = None) -> list[int]:
    """The live child processes of ``parent`` (default: this process)."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) == parent and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def join_all(threads: Sequence[threading.Thread], *, timeout: float) -> None:
    """Join ``threads`` for up to ``timeout`` s in all; a second Ctrl-C gives up waiting."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(BaseException):
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))


def wait_for_children(timeout: float) -> bool:
    """Wait up to ``timeout`` s for this process's children to end; True if they did."""
    deadline = time.monotonic() + timeout
    while child_pids():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def sigterm_as_interrupt(*, children: bool = False) -> Any:
    """Make SIGTERM raise ``KeyboardInterrupt`` (main thread only); return the previous
    handler (``None`` when nothing was changed), for :func:`restore_sigterm`.

    With ``children`` (the pytest-xdist controller), SIGTERM is first passed on to the
    child processes (its workers, where it raises ``KeyboardInterrupt`` too), as Ctrl-C in
    a terminal reaches them all: each one tears its tests down at once instead of after
    execnet's grace period.
    """
    if not _in_main_thread():
        return None
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
            return None
        return signal.signal(signal.SIGTERM, _interrupt_children if children else _raise_interrupt)
    except (ValueError, OSError):
        return None


def restore_sigterm(previous: Any) -> None:
    """Put back the handler :func:`sigterm_as_interrupt` replaced (main thread only)."""
    if previous is None or not _in_main_thread():
        return
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGTERM, previous)
