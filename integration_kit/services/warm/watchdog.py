"""The watchdog of a warm set: the process that owns its services and stops them when idle.

``python -m integration_kit.services.warm.watchdog <set dir>`` runs detached (its own
session) for as long as the set lives. Every container label and pid file of the set
names it as the owner, so when it is gone (killed, machine rebooted) the next run's reaper
removes the set's services like any other leftover of a dead owner.

Every :func:`poll_interval` seconds it looks at the set under its lock: when no live run
uses it and it has been idle for the set's ``idle_timeout``, it stops the services,
removes the set and exits. It exits too when the set is gone or names another watchdog
(``services down``), and stops the set on SIGTERM.

It keeps the pid-file records of the set's local servers in memory (read every
:data:`LEARN_INTERVAL` seconds): when the set's
directory vanishes without ``services down`` (the runtime directory deleted by hand), the
servers' own pid files may be gone with it and no reaper could find them, so it stops
those servers itself (each only while its pid still runs the recorded program) and says
so. Containers carry their owner in their labels and are reaped as usual.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger("integration_kit.reuse")


#: How often the watchdog reads the set's servers (their pid-file records).
LEARN_INTERVAL = 0.5


def poll_interval(idle_timeout: float) -> float:
    return min(5.0, max(0.1, idle_timeout / 5))


def _mine(info: dict[str, object] | None) -> bool:
    watchdog = info.get("watchdog") if info else None
    return isinstance(watchdog, dict) and watchdog.get("pid") == os.getpid()


def _local_records(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The pid-file records of the local servers among a set's ``services()``."""
    from integration_kit.services.backends.local.server import handle_record

    records: dict[str, dict[str, Any]] = {}
    for fingerprint, data in services.items():
        handle = data.get("handle") or {}
        if handle.get("backend") != "local" or not handle.get("dir"):
            continue
        record = handle_record(handle)
        if record is not None:
            records[fingerprint] = record
    return records


def _stop_orphans(name: str, records: dict[str, dict[str, Any]]) -> None:
    """Stop the remembered local servers of a set whose directory vanished."""
    from integration_kit.services.ownership import pid_alive
    from integration_kit.services.runtime import stop_recorded

    alive = {fp: record for fp, record in records.items() if pid_alive(int(record.get("pid", 0)))}
    if not alive:
        return
    log.warning(
        "integration-kit: the directory of warm set %s vanished while %d of its servers ran "
        "(pids %s); stopping them",
        name,
        len(alive),
        ", ".join(str(record.get("pid")) for record in alive.values()),
    )
    for record in alive.values():
        try:
            stop_recorded(record)
        except Exception:
            log.warning("integration-kit: stopping pid %s failed", record.get("pid"), exc_info=True)


def watch(set_dir: Path) -> int:
    """The watchdog's loop (see the module docstring); returns the exit status."""
    from integration_kit.config import load_settings
    from integration_kit.services.warm.store import WarmSet

    try:
        info = dict(json.loads((set_dir / "set.json").read_text()))
    except (OSError, ValueError):
        return 0
    root = Path(str(info.get("root") or Path.cwd()))
    settings = load_settings(rootdir=root)
    warm = WarmSet.from_dir(settings, set_dir)
    if warm.dir != set_dir:  # another runtime dir than the one we were started for
        warm.dir = set_dir
        warm._lock_path = set_dir.parent / f"{warm.name}.lock"

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_term)
    deadline_wait = time.monotonic() + 30.0
    known: dict[str, dict[str, Any]] = {}
    try:
        while True:
            current = warm.info()
            if current is None:
                _stop_orphans(warm.name, known)  # after ``services down``: already stopped
                return 0
            info = current
            if "watchdog" not in info:  # the creator has not written our pid yet
                if time.monotonic() > deadline_wait:
                    return 1
                time.sleep(0.05)
                continue
            if not _mine(info):
                return 0
            timeout = float(str(info.get("idle_timeout", settings.reuse_idle_timeout)))
            # Learn the set's servers often (a few small files), check idleness less often.
            until = time.monotonic() + poll_interval(timeout)
            while True:
                if warm.info() is None:  # (its lock file may have gone with it)
                    _stop_orphans(warm.name, known)
                    return 0
                known.update(_local_records(warm.services()))
                left = until - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(LEARN_INTERVAL, left))
            with warm.locked():
                if not _mine(warm.info()):
                    return 0
                if warm.live_users():
                    continue
                idle = time.time() - warm.last_used()
                if idle >= timeout:
                    warm.stop(f"idle for {idle:.0f} s (idle timeout {timeout:g} s)")
                    return 0
    finally:
        if warm.info() is not None:
            with warm.locked():
                if _mine(warm.info()):
                    warm.stop("its watchdog was stopped")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    return watch(Path(args[0]))


if __name__ == "__main__":
    sys.exit(main())
