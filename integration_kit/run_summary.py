"""What a test run used and did: the backend, each service's start-up, tests by category.

The pytest plugin fills a :class:`RunSummary` from the test reports (in the xdist
controller too: the start-ups travel on the setup reports as ``ik_startup``) and prints
it at the end of the run::

    integration-kit: 44 tests in 31.2 s (unit 12, integration 16, e2e 12, contract 4)
    service / process       backend   version   start-up
    postgres                local     15        1.32 s
    ...

A service's start-up happens during the setup of the first test that needs it; the
plugin takes it out of that test's setup time and reports it as its own row
(:func:`startup_rows`), so the slowest *test* is not a health check.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("unit", "integration", "e2e", "contract")
#: Node ids of start-up rows in the run history.
STARTUP_PREFIX = "integration-kit::startup::"


@dataclass(frozen=True)
class Startup:
    """One start of a service (``kind`` is its spec kind, ``process`` for the user's apps)."""

    key: str
    kind: str
    backend: str
    version: str
    seconds: float
    started_here: bool = True
    scope: str = ""  # for class-scoped processes: the class's node id

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Startup:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    def nodeid(self, worker: str | None = None) -> str:
        """The run-history row's node id: ``integration-kit::startup::postgres``."""
        where = f" ({self.scope})" if self.scope else ""
        on = f" [{worker}]" if worker and (self.kind == "process") else ""
        return f"{STARTUP_PREFIX}{self.key}{where}{on}"


def startups(records: Mapping[str, Any], before: Mapping[str, int], *, scope: str = "") -> list[Startup]:
    """The session's start records that are new since ``before`` (``id()`` by key)."""
    found = []
    for key, record in records.items():
        if before.get(key) == id(record):
            continue
        extra = getattr(record, "extra", {}) or {}
        kind = "process" if record.backend == "process" else key
        found.append(
            Startup(
                key=key,
                kind=kind,
                backend=str(record.backend or ""),
                version=str(extra.get("version", "")),
                seconds=round(float(record.seconds), 3),
                started_here=bool(extra.get("started_here", True)),
                scope=scope if kind == "process" else "",
            )
        )
    return found


def category(keywords: Iterable[str]) -> str:
    """The test's category marker, ``other`` when it has none."""
    names = set(keywords)
    return next((name for name in CATEGORIES if name in names), "other")


@dataclass
class RunSummary:
    started: float = field(default_factory=time.monotonic)
    configured_backend: str = "auto"
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)  # category -> nodeid -> outcome
    startups: list[Startup] = field(default_factory=list)

    def add_outcome(self, nodeid: str, keywords: Iterable[str], outcome: str) -> None:
        per = self.outcomes.setdefault(category(keywords), {})
        if per.get(nodeid) in (None, "passed"):  # a failed teardown turns a pass into an error
            per[nodeid] = outcome

    def add_startups(self, rows: Iterable[Startup]) -> None:
        self.startups.extend(rows)

    def services(self) -> list[Startup]:
        """One row per service: the start that really started it (the longest, if several)."""
        best: dict[str, Startup] = {}
        for row in self.startups:
            if row.kind == "process":
                continue
            current = best.get(row.key)
            rank = (row.started_here, row.seconds)
            if current is None or rank > (current.started_here, current.seconds):
                best[row.key] = row
        return sorted(best.values(), key=lambda row: row.key)

    def processes(self) -> list[Startup]:
        return [row for row in self.startups if row.kind == "process"]

    def lines(self) -> list[str]:
        total = sum(len(per) for per in self.outcomes.values())
        counts = ", ".join(
            f"{name} {len(self.outcomes[name])}" for name in (*CATEGORIES, "other") if self.outcomes.get(name)
        )
        failed = sum(1 for per in self.outcomes.values() for o in per.values() if o in ("failed", "error"))
        skipped = sum(1 for per in self.outcomes.values() for o in per.values() if o == "skipped")
        elapsed = time.monotonic() - self.started
        head = f"integration-kit: {total} tests in {elapsed:.1f} s ({counts or 'none'})"
        if failed or skipped:
            head += f"; {failed} failed, {skipped} skipped"
        backends = sorted({row.backend for row in self.services() if row.backend})
        lines = [
            head,
            f"integration-kit: backend {'/'.join(backends) or 'none used'}"
            f" (configured: {self.configured_backend})",
        ]
        rows = self.services()
        processes = self.processes()
        if rows or processes:
            lines.append(f"  {'service / process':<34} {'backend':<9} {'version':<8} {'start-up':>9}")
            for row in rows:
                lines.append(f"  {row.key:<34} {row.backend:<9} {row.version:<8} {row.seconds:>7.2f} s")
            by_key: dict[str, list[float]] = {}
            for row in processes:
                by_key.setdefault(row.key, []).append(row.seconds)
            for key, seconds in sorted(by_key.items()):
                label = f"{key} (process, {len(seconds)} start{'s' if len(seconds) > 1 else ''})"
                lines.append(f"  {label:<34} {'process':<9} {'':<8} {max(seconds):>7.2f} s (slowest)")
        return lines
