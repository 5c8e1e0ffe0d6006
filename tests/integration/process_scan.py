"""Which processes belong to a directory: the helper of the backend and reuse tests' cleanups."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def processes_in(path: Path) -> list[int]:
    """Processes whose command line names ``path`` or whose working directory is under it.

    The working directory matters: redis-server rewrites its command line to
    ``redis-server host:port``, so only its cwd still tells where it belongs.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                in_cmdline = str(path).encode() in (entry / "cmdline").read_bytes()
                cwd = Path(os.readlink(entry / "cwd"))
                if in_cmdline or cwd == path or path in cwd.parents:
                    found.append(int(entry.name))
    return found
