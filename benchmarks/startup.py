"""Cold start-to-ready of PostgreSQL, Redis and Kafka, alone and all three in parallel.

    python benchmarks/startup.py [--runs 3] [--backend docker] [--json]

Each run starts every service alone, one after another (each a fresh container, timed
from the start request until its protocol check passes), then all three together in
one ``ServiceSession.ensure`` call. The table shows medians over the runs, the targets
of this 2-core machine, and the parallel start against two baselines measured in the
same run: one after another (sum) and the slowest service alone (+20% allowed).
``--json`` prints the medians as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from integration_kit.config import load_settings
from integration_kit.services.base import KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.session import ServiceSession

TARGETS_S = {"postgres": 3.0, "redis": 1.0, "kafka": 10.0}


def _specs() -> list[ServiceSpec]:
    return [PostgresService(), RedisService(), KafkaService()]


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
    times["sequential"] = sum(times[spec.key] for spec in _specs())
    with ServiceSession(settings, reap=False) as session:
        started = time.monotonic()
        session.ensure(_specs())
        times["parallel"] = time.monotonic() - started
    return times


def summarize(runs: list[dict[str, float]]) -> dict[str, Any]:
    medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    slowest_alone = max(medians[key] for key in TARGETS_S)
    return {
        "runs": len(runs),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "median_s": {key: round(value, 3) for key, value in medians.items()},
        "parallel_vs_sequential": round(medians["parallel"] / medians["sequential"], 3),
        "parallel_vs_slowest_alone": round(medians["parallel"] / slowest_alone, 3),
        "targets_s": {**TARGETS_S, "parallel": round(slowest_alone * 1.2, 3)},
    }


def render(summary: dict[str, Any], runs: list[dict[str, float]], backend: str) -> None:
    from rich.console import Console
    from rich.table import Table

    medians = summary["median_s"]
    targets = summary["targets_s"]
    table = Table(title=f"cold start-to-ready, {backend} backend, median of {summary['runs']} runs")
    table.add_column("what")
    table.add_column("median (s)", justify="right")
    table.add_column("min..max (s)", justify="right")
    table.add_column("target (s)", justify="right")
    table.add_column("", justify="center")
    for key in ("postgres", "redis", "kafka", "sequential", "parallel"):
        values = [run[key] for run in runs]
        target = targets.get(key)
        verdict = "" if target is None else ("ok" if medians[key] <= target else "over")
        table.add_row(
            {"sequential": "all three, one after another", "parallel": "all three in parallel"}.get(key, key),
            f"{medians[key]:.2f}",
            f"{min(values):.2f}..{max(values):.2f}",
            "" if target is None else f"{target:.2f}",
            verdict,
        )
    console = Console()
    console.print(table)
    console.print(
        f"load average (1 min) at the end: {summary['load_average_1m']:.2f} on {os.cpu_count()} cores"
    )
    console.print(
        f"parallel / one-after-another: {summary['parallel_vs_sequential']:.2f}x   "
        f"parallel / slowest alone: {summary['parallel_vs_slowest_alone']:.2f}x (target <= 1.20x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument("--backend", default="docker", help="backend to start services with (default docker)")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    runs = [one_run(args.backend) for _ in range(args.runs)]
    summary = summarize(runs)
    if args.json:
        print(json.dumps({"backend": args.backend, **summary}))
    else:
        render(summary, runs, args.backend)


if __name__ == "__main__":
    main()
