"""Leaked state: what a test leaves behind that the next test inherits.

With ``--ik-leaks`` (setting ``leak_check``) the plugin takes a :class:`StateSnapshot`
when a test's setup is done and another after its teardown, and warns (a
:class:`LeakWarning` in the warnings summary, under the test's name) about

* threads still running that the test started;
* child processes still alive that the test started;
* sockets (connections, listeners) the process opened and did not close;
* environment variables the test set, changed or removed;
* files and directories created under the rootdir (hidden directories, ``__pycache__``
  and the kit's own ``.integration-kit/`` are not watched).

Resources of fixtures with a wider scope (session, module, class) are set up before the
first snapshot and torn down after the last, so they do not count; a function-scoped
fixture that leaks in its setup is not seen either (the window opens after setup).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", "build", "dist"})
FILE_LIMIT = 20_000
#: Set and removed by pytest itself around each phase.
IGNORED_ENV = ("PYTEST_CURRENT_TEST",)


class LeakWarning(pytest.PytestWarning):
    """A test left state behind (threads, processes, sockets, env vars, files)."""


def _sockets() -> frozenset[str]:
    found = set()
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                found.add(target)
    except OSError:  # no /proc: sockets are not watched
        return frozenset()
    return frozenset(found)


def _children() -> frozenset[int]:
    pids: set[int] = set()
    try:
        for task in os.listdir("/proc/self/task"):
            try:
                text = Path(f"/proc/self/task/{task}/children").read_text()
            except OSError:
                continue
            pids.update(int(p) for p in text.split())
    except OSError:
        return frozenset()
    return frozenset(pids)


def _files(root: Path) -> frozenset[str]:
    found: set[str] = set()

    def walk(directory: Path) -> Iterator[str]:
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIPPED_DIRS:
                continue
            yield os.path.relpath(entry.path, root)
            if entry.is_dir(follow_symlinks=False):
                yield from walk(Path(entry.path))

    for path in walk(root):
        found.add(path)
        if len(found) >= FILE_LIMIT:
            break
    return frozenset(found)


@dataclass(frozen=True)
class StateSnapshot:
    """The process state a test can leak."""

    threads: dict[int, str] = field(default_factory=dict)
    children: frozenset[int] = frozenset()
    sockets: frozenset[str] = frozenset()
    environ: dict[str, str] = field(default_factory=dict)
    files: frozenset[str] = frozenset()

    @classmethod
    def take(cls, root: Path | None = None) -> StateSnapshot:
        return cls(
            threads={t.ident or 0: t.name for t in threading.enumerate() if t.is_alive()},
            children=_children(),
            sockets=_sockets(),
            environ=dict(os.environ),
            files=_files(root) if root is not None else frozenset(),
        )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def leaked_state(before: StateSnapshot, after: StateSnapshot) -> list[str]:
    """What ``after`` holds that ``before`` did not, one line per kind."""
    problems = []
    threads = sorted(name for ident, name in after.threads.items() if ident not in before.threads)
    if threads:
        problems.append(f"{len(threads)} thread(s) still running: {', '.join(threads[:5])}")
    children = sorted(pid for pid in after.children - before.children if _alive(pid))
    if children:
        problems.append(
            f"{len(children)} child process(es) still running: pid {', '.join(map(str, children[:5]))}"
        )
    sockets = after.sockets - before.sockets
    if sockets:
        problems.append(f"{len(sockets)} socket(s) left open")
    for snapshot_env in (before.environ, after.environ):
        for name in IGNORED_ENV:
            snapshot_env.pop(name, None)
    added = sorted(set(after.environ) - set(before.environ))
    removed = sorted(set(before.environ) - set(after.environ))
    changed = sorted(
        k for k in set(before.environ) & set(after.environ) if before.environ[k] != after.environ[k]
    )
    for label, names in (("set", added), ("changed", changed), ("removed", removed)):
        if names:  # names only: values may be credentials
            problems.append(f"environment variable(s) {label}: {', '.join(names[:10])}")
    files = sorted(after.files - before.files)
    if files:
        shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        problems.append(f"{len(files)} file(s) created under the rootdir: {shown}")
    return problems
