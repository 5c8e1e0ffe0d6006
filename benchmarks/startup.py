"""Cold start-to-ready of PostgreSQL, Redis and Kafka per backend, side by side.

    python benchmarks/startup.py [--runs 3] [--backend docker,local] [--json]

For each backend, each run starts every service alone, one after another (timed from
the start request until its protocol check passes), then all three together in one
``ServiceSession.ensure`` call. The local backend also gets a "postgres (initdb)" row: a
start with an empty cache, i.e. initdb included; its plain "postgres" row starts from the
cached data directory (what every run after the first does). The table shows medians
over the runs, each backend's targets on this 2-core machine, the parallel start against
baselines measured in the same run (one after another; the slowest alone, +20% allowed),
and each backend's time relative to the first backend listed. ``--json`` prints the
medians as one JSON object (with one backend, the same shape as before: ``{"backend":
..., "median_s": ...}``; with several, ``{"backends": {name: ...}, "relative_to": ...}``).
The external backend needs the INTEGRATION_KIT_*_URL settings; it measures reachability.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from integration_kit.config import BACKENDS, Settings, load_settings
from integration_kit.errors import IntegrationKitError
from integration_kit.services.base import KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.session import ServiceSession

SERVICES = ("postgres", "redis", "kafka")
TARGETS_S: dict[str, dict[str, float]] = {
    "docker": {"postgres": 3.0, "redis": 1.0, "kafka": 10.0},
    "local": {"postgres": 0.1, "postgres_initdb": 1.5, "redis": 0.05, "kafka": 6.0},
    "external": {},
}
LABELS = {
    "postgres_initdb": "postgres (initdb, empty cache)",
    "sequential": "all three, one after another",
    "parallel": "all three in parallel",
}


def _specs() -> list[ServiceSpec]:
    return [PostgresService(), RedisService(), KafkaService()]


def _settle(session: ServiceSession) -> None:
    """Let a backend's background cache work finish, so it does not load the next timing."""
    wait = getattr(session.backend, "wait_background", None)
    if callable(wait):
        wait()


def _postgres_initdb(settings: Settings) -> float:
    """Local only: a start with an empty cache (initdb included), in throwaway directories."""
    scratch = Path(tempfile.mkdtemp(prefix="ik-bench-"))
    shm = Path("/dev/shm")
    runtime = Path(tempfile.mkdtemp(prefix="ik-bench-rt-", dir=shm if shm.is_dir() else None))
    runtime.chmod(0o755)  # reachable by the postgres user when run as root
    try:
        fresh = settings.replace(cache_dir=scratch / "cache", runtime_dir=runtime)
        with ServiceSession(fresh, reap=False) as session:
            started = time.monotonic()
            session.ensure([PostgresService()])
            seconds = time.monotonic() - started
            session.stop()
            _settle(session)
        return seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def one_run(backend: str) -> dict[str, float]:
    """Start-to-ready seconds: each service alone, their sum, and all three in parallel."""
    settings = load_settings(backend=backend)
    times: dict[str, float] = {}
    with ServiceSession(settings) as session:
        for spec in _specs():
            started = time.monotonic()
            session.ensure([spec])
            times[spec.key] = time.monotonic() - started
            session.get(spec).stop()
            _settle(session)
    times["sequential"] = sum(times[key] for key in SERVICES)
    with ServiceSession(settings, reap=False) as session:
        started = time.monotonic()
        session.ensure(_specs())
        times["parallel"] = time.monotonic() - started
    if backend == "local":
        times["postgres_initdb"] = _postgres_initdb(settings)
    return times


def warm_up(backend: str) -> None:
    """Local only: fill the caches first (data directory, spare, Kafka class-data archive),
    as every run but a machine's very first one finds them."""
    if backend == "local":
        from integration_kit.services.backends.local import LocalBackend

        LocalBackend(load_settings(backend="local")).prepare()


def summarize(backend: str, runs: list[dict[str, float]]) -> dict[str, Any]:
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    slowest_alone = max(medians[key] for key in SERVICES)
    return {
        "runs": len(runs),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "median_s": {key: round(value, 3) for key, value in medians.items()},
        "parallel_vs_sequential": round(medians["parallel"] / medians["sequential"], 3),
        "parallel_vs_slowest_alone": round(medians["parallel"] / slowest_alone, 3),
        "targets_s": {**TARGETS_S.get(backend, {}), "parallel": round(slowest_alone * 1.2, 3)},
    }


def relative(summaries: dict[str, dict[str, Any]], base: str) -> dict[str, dict[str, float]]:
    """Each backend's medians divided by the ``base`` backend's (same run, same machine)."""
    ratios: dict[str, dict[str, float]] = {}
    base_medians = summaries[base]["median_s"]
    for name, summary in summaries.items():
        if name == base:
            continue
        ratios[name] = {
            key: round(value / base_medians[key], 3)
            for key, value in summary["median_s"].items()
            if base_medians.get(key)
        }
    return ratios


def render(
    summaries: dict[str, dict[str, Any]],
    runs: dict[str, list[dict[str, float]]],
    failures: dict[str, str],
) -> None:
    from rich.console import Console
    from rich.table import Table

    names = list(summaries)
    count = max((s["runs"] for s in summaries.values()), default=0)
    table = Table(title=f"start-to-ready by backend, median of {count} runs (seconds)")
    table.add_column("what")
    for name in names:
        table.add_column(f"{name}", justify="right")
        table.add_column("target", justify="right")
        table.add_column("", justify="center")
    if len(names) > 1:
        for name in names[1:]:
            table.add_column(f"{name} / {names[0]}", justify="right")
    rows = ["postgres", "postgres_initdb", "redis", "kafka", "sequential", "parallel"]
    ratios = relative(summaries, names[0]) if names else {}
    for key in rows:
        if not any(key in s["median_s"] for s in summaries.values()):
            continue
        cells = [LABELS.get(key, key)]
        for name in names:
            median = summaries[name]["median_s"].get(key)
            target = summaries[name]["targets_s"].get(key)
            values = [run[key] for run in runs[name] if key in run]
            spread = f" ({min(values):.2f}..{max(values):.2f})" if len(values) > 1 else ""
            cells.append("" if median is None else f"{median:.3f}{spread}")
            cells.append("" if target is None else f"{target:.2f}")
            cells.append("" if median is None or target is None else ("ok" if median <= target else "over"))
        for name in names[1:]:
            ratio = ratios.get(name, {}).get(key)
            cells.append("" if ratio is None else f"{ratio:.2f}x")
        table.add_row(*cells)
    console = Console(width=max(Console().width, 150))
    console.print(table)
    for name, summary in summaries.items():
        console.print(
            f"{name}: parallel / one-after-another {summary['parallel_vs_sequential']:.2f}x, "
            f"parallel / slowest alone {summary['parallel_vs_slowest_alone']:.2f}x (target <= 1.20x)"
        )
    for name, reason in failures.items():
        console.print(f"{name}: not measured: {reason}")
    console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument(
        "--backend",
        default="docker",
        help="backend(s) to compare, comma-separated: docker,local,external (default docker)",
    )
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    backends = [name.strip() for name in args.backend.split(",") if name.strip()]
    unknown = [name for name in backends if name not in BACKENDS or name == "auto"]
    if not backends or unknown:
        parser.error(f"--backend: unknown {', '.join(unknown) or '(none)'}; use docker, local, external")
    runs: dict[str, list[dict[str, float]]] = {}
    failures: dict[str, str] = {}
    for backend in backends:
        try:
            warm_up(backend)
            runs[backend] = [one_run(backend) for _ in range(args.runs)]
        except IntegrationKitError as exc:
            failures[backend] = f"{exc.code.value}: {exc.message}"
    summaries = {name: summarize(name, backend_runs) for name, backend_runs in runs.items()}
    if args.json:
        if len(backends) == 1 and summaries:
            print(json.dumps({"backend": backends[0], **summaries[backends[0]]}))
        else:
            base = next(iter(summaries), None)
            print(
                json.dumps(
                    {
                        "backends": summaries,
                        "relative_to": base,
                        "ratios": relative(summaries, base) if base else {},
                        "not_measured": failures,
                    }
                )
            )
    else:
        render(summaries, runs, failures)
    if failures and not summaries:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
