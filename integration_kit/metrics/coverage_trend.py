"""Coverage trending: statement coverage per package recorded with each run, and its trend.

When pytest-cov measures a run (``pytest --cov=...``, also under pytest-xdist, where the
controller holds the combined data), the recorder stores the total and each package's
(directory's) statement coverage. ``integration-kit metrics coverage`` shows the trend
and flags drops of more than ``threshold`` percentage points against the previous run
that has coverage.

pytest-cov's measuring object is reached through its plugin (``_cov``) and its
``cov_controller.cov``; tested with pytest-cov 7.x (``pyproject.toml`` pins ``>=5,<8``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_kit.metrics.history import CoverageRecord, History

DEFAULT_THRESHOLD = 1.0
TOTAL = ""


def active_coverage(config: Any) -> Any | None:
    """The ``coverage.Coverage`` object pytest-cov measures this run with, or ``None``."""
    plugin = config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    return getattr(controller, "cov", None)


def measure(cov: Any, rootdir: Path) -> list[CoverageRecord]:
    """Statement coverage per package (the directory of each measured file, relative to
    ``rootdir``) and the total (package ``""``), from a stopped or running ``Coverage``."""
    data = cov.get_data()
    totals: dict[str, list[int]] = {}
    for filename in sorted(data.measured_files()):
        try:
            _, statements, _excluded, missing, _ = cov.analysis2(filename)
        except Exception:  # a file coverage cannot analyse (gone, not Python)
            continue
        path = Path(filename)
        try:
            package = path.parent.relative_to(rootdir).as_posix()
        except ValueError:
            package = path.parent.as_posix()
        for key in (TOTAL, package or "."):
            counts = totals.setdefault(key, [0, 0])
            counts[0] += len(statements)
            counts[1] += len(statements) - len(missing)
    if not totals:
        return []
    return [CoverageRecord(package=k, statements=v[0], covered=v[1]) for k, v in sorted(totals.items())]


@dataclass(frozen=True, kw_only=True)
class CoveragePoint:
    """The total coverage of one run."""

    run_id: int
    started_at: float
    percent: float
    statements: int


@dataclass(frozen=True, kw_only=True)
class CoverageDrop:
    """A package (``""``: the total) whose coverage fell by more than the threshold."""

    package: str
    run_id: int
    previous_run: int
    previous: float
    current: float

    @property
    def delta(self) -> float:
        return self.current - self.previous


@dataclass(frozen=True, kw_only=True)
class CoverageTrend:
    """Total coverage per run, the latest run's packages and the drops it brought."""

    points: tuple[CoveragePoint, ...]
    packages: tuple[CoverageRecord, ...]
    previous_packages: Mapping[str, float]
    drops: tuple[CoverageDrop, ...]
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "runs": [
                {
                    "run_id": p.run_id,
                    "started_at": p.started_at,
                    "percent": round(p.percent, 3),
                    "statements": p.statements,
                }
                for p in self.points
            ],
            "packages": [
                {
                    "package": c.package,
                    "percent": round(c.percent, 3),
                    "statements": c.statements,
                    "covered": c.covered,
                    "previous": _round(self.previous_packages.get(c.package)),
                }
                for c in self.packages
                if c.package != TOTAL
            ],
            "drops": [
                {
                    "package": d.package or "(total)",
                    "run_id": d.run_id,
                    "previous_run": d.previous_run,
                    "previous": round(d.previous, 3),
                    "current": round(d.current, 3),
                    "delta": round(d.delta, 3),
                }
                for d in self.drops
            ],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def coverage_drops(
    previous: Sequence[CoverageRecord],
    current: Sequence[CoverageRecord],
    *,
    run_id: int,
    previous_run: int,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[CoverageDrop]:
    """Packages (and the total) of ``current`` more than ``threshold`` points below ``previous``."""
    before = {c.package: c.percent for c in previous}
    drops = []
    for record in current:
        old = before.get(record.package)
        if old is not None and old - record.percent > threshold:
            drops.append(
                CoverageDrop(
                    package=record.package,
                    run_id=run_id,
                    previous_run=previous_run,
                    previous=old,
                    current=record.percent,
                )
            )
    return sorted(drops, key=lambda d: (d.package != TOTAL, d.delta, d.package))


def coverage_trend(
    history: History, *, window: int = 20, threshold: float = DEFAULT_THRESHOLD
) -> CoverageTrend:
    """The coverage of the last ``window`` runs that have it, and the latest run's drops."""
    by_run = history.coverage(last_runs=window)
    started = {run.id: run.started_at for run in history.runs(last=window)}
    points = []
    for run_id, records in sorted(by_run.items()):
        total = next((c for c in records if c.package == TOTAL), None)
        if total is not None:
            points.append(
                CoveragePoint(
                    run_id=run_id,
                    started_at=started.get(run_id, 0.0),
                    percent=total.percent,
                    statements=total.statements,
                )
            )
    ids = sorted(by_run)
    latest = by_run[ids[-1]] if ids else []
    previous = by_run[ids[-2]] if len(ids) > 1 else []
    drops = (
        coverage_drops(previous, latest, run_id=ids[-1], previous_run=ids[-2], threshold=threshold)
        if len(ids) > 1
        else []
    )
    return CoverageTrend(
        points=tuple(points),
        packages=tuple(latest),
        previous_packages={c.package: c.percent for c in previous},
        drops=tuple(drops),
        threshold=threshold,
    )
