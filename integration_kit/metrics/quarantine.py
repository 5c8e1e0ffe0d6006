"""Quarantine: flaky tests that still run and are reported, but whose failure does not
fail the run. The list is a JSON file meant to be committed (``quarantine_file``,
default ``quarantine.json`` at the rootdir), so a quarantine is reviewed like code::

    {"version": 1, "tests": [{"nodeid": "tests/e2e/test_orders.py::test_dlq",
      "reason": "DLQ consumer races the rebalance, #123", "added": "2026-12-01T21:00:00+00:00",
      "flip_rate": 0.5}]}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_kit.errors import ConfigError, ErrorCode, MetricsError

FORMAT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class QuarantinedTest:
    """One quarantined test, why, and since when."""

    nodeid: str
    reason: str
    added: dt.datetime
    flip_rate: float | None = None

    def age(self, now: dt.datetime | None = None) -> dt.timedelta:
        return (now or dt.datetime.now(dt.UTC)) - self.added

    def age_text(self, now: dt.datetime | None = None) -> str:
        days = self.age(now).total_seconds() / 86400
        if days >= 1:
            return f"{int(days)} day{'s' if int(days) != 1 else ''}"
        hours = days * 24
        return f"{int(hours)} h" if hours >= 1 else "< 1 h"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"nodeid": self.nodeid, "reason": self.reason, "added": self.added.isoformat()}
        if self.flip_rate is not None:
            data["flip_rate"] = self.flip_rate
        return data


def _invalid(path: Path, cause: object) -> MetricsError:
    return MetricsError(ErrorCode.METRICS_QUARANTINE_INVALID, path=path, cause=cause)


def load_quarantine(path: Path) -> dict[str, QuarantinedTest]:
    """The quarantine in ``path`` by node id; empty when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:  # a directory, a file where a directory must be, no permission
        raise _unusable(path, exc) from exc
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"expected {{'version': {FORMAT_VERSION}, 'tests': [...]}}")
        found = {}
        for entry in data["tests"]:
            added = dt.datetime.fromisoformat(entry["added"])
            if added.tzinfo is None:
                added = added.replace(tzinfo=dt.UTC)
            rate = entry.get("flip_rate")
            test = QuarantinedTest(
                nodeid=str(entry["nodeid"]),
                reason=str(entry["reason"]),
                added=added,
                flip_rate=None if rate is None else float(rate),
            )
            found[test.nodeid] = test
        return found
    except (ValueError, KeyError, TypeError) as exc:
        raise _invalid(path, exc) from exc


def save_quarantine(path: Path, tests: dict[str, QuarantinedTest]) -> None:
    """Write the quarantine (sorted by node id, stable formatting for review) atomically."""
    data = {"version": FORMAT_VERSION, "tests": [tests[k].to_dict() for k in sorted(tests)]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".quarantine-", dir=path.parent)
    except OSError as exc:  # a file where its directory must go, or no write permission
        raise _unusable(path, exc) from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):  # e.g. the path is a directory
            raise _unusable(path, exc) from exc
        raise


def _unusable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        ErrorCode.CONFIG_UNUSABLE_PATH,
        key="quarantine_file",
        path=path,
        problem=exc.strerror or str(exc),
        env="INTEGRATION_KIT_QUARANTINE_FILE",
        hint="Point --file or the quarantine_file setting (INTEGRATION_KIT_QUARANTINE_FILE) at a "
        "file the kit may write, in a directory it may create.",
    )


def resolve_quarantine_path(rootdir: Path, configured: Path) -> Path:
    return configured if configured.is_absolute() else rootdir / configured
