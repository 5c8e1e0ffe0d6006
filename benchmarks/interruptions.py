"""Interrupted runs and killed services: what is left behind, and how fast a death is named.

    python benchmarks/interruptions.py [--trials 10] [--backend docker,local,external] [--workers 0,2]
        [--signals SIGINT,SIGTERM] [--phases start,test,teardown]
        [--deaths postgres,redis,kafka] [--death-trials 3] [--json]

Interruptions: for every backend x signal x phase x workers, ``--trials`` runs of a small
inner pytest suite (PostgreSQL + Redis) through the kit, interrupted by SIGINT (to the
process group, as Ctrl-C) or SIGTERM (to pytest only, as ``kill`` or a CI timeout) at start
(a server is up but not yet handed back), in a test, or in teardown (inside the stop of
the first service). Each row counts what the trials left in total: containers owned by
the run, processes in its directories, service and run-state directories, ``ik_``
databases on servers that survived (target: 0 everywhere), how many ended as pytest's
"interrupted" (exit status 2) and the median seconds from the signal to pytest's exit.
``external``: a suite of ``PostgresTestCase`` + ``RedisTestCase`` against PostgreSQL and
Redis the script starts first (servers the kit did not start; teardown is inside the
class's first database drop); left are ``ik_`` databases and Redis keys on them.

Deaths: for every backend x service, ``--death-trials`` runs in which the service is
killed (SIGKILL / ``docker kill``) while the first test waits: the median seconds from
the kill to the next test's setup failing with ``IK-SVC-DIED`` (target: under 1 s), and
how many trials named the service in every test that needed it.

Leftovers of a trial are removed after they are counted. ``--json`` prints the rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration" / "services"))

from external_runs import ExternalServers, external_servers, interrupt_external_run
from inner_runs import EXPECTED_DEATHS, PHASES, Interruption, interrupt_run, kill_service_run

DEATH_TARGET_S = 1.0


LEFT = ("containers", "processes", "dirs", "databases", "keys")


def _interruption_row(
    backend: str,
    signame: str,
    phase: str,
    workers: int,
    trials: int,
    servers: Callable[[], ExternalServers],
) -> dict[str, Any]:
    row: dict[str, Any] = {"backend": backend, "signal": signame, "phase": phase, "workers": workers}
    totals = dict.fromkeys(LEFT, 0)
    interrupted, exits, details = 0, [], []
    for _ in range(trials):
        signum = getattr(signal, signame)
        outcome: Interruption = (
            interrupt_external_run(servers(), signum, phase, workers)
            if backend == "external"
            else interrupt_run(backend, signum, phase, workers)
        )
        for key in totals:
            totals[key] += getattr(outcome.leftovers, key)
        interrupted += outcome.returncode == 2
        exits.append(outcome.seconds_to_exit)
        details.extend(outcome.leftovers.detail)
    row.update(totals, trials=trials, interrupted=interrupted, exit_median_s=statistics.median(exits))
    row["leftover_detail"] = details[:10]
    return row


def _death_row(backend: str, service: str, trials: int) -> dict[str, Any]:
    latencies, named = [], 0
    for _ in range(trials):
        death = kill_service_run(backend, service)
        died = death.died_reports()
        if all(
            any(r["nodeid"].endswith(name) and f"Service '{service}'" in r["text"] for r in died)
            for name in EXPECTED_DEATHS
        ):
            named += 1
        if death.latency_s is not None:
            latencies.append(death.latency_s)
    return {
        "backend": backend,
        "service": service,
        "trials": trials,
        "named": named,
        "latency_median_s": statistics.median(latencies) if latencies else None,
        "latency_max_s": max(latencies) if latencies else None,
        "target_s": DEATH_TARGET_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--backend", default="docker,local")
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--signals", default="SIGINT,SIGTERM")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--deaths", default="postgres,redis,kafka", help="services to kill ('' for none)")
    parser.add_argument("--death-trials", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    backends = [b for b in args.backend.split(",") if b]
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        opened: list[ExternalServers] = []

        def servers() -> ExternalServers:  # started on first use, once for every external row
            if not opened:
                opened.append(stack.enter_context(external_servers()))
            return opened[0]

        rows = [
            _interruption_row(backend, signame, phase, int(workers), args.trials, servers)
            for backend in backends
            for workers in args.workers.split(",")
            for signame in args.signals.split(",")
            for phase in args.phases.split(",")
            if args.trials > 0
        ]
    deaths = [  # the external backend starts no service, so none dies under it
        _death_row(backend, service, args.death_trials)
        for backend in backends
        for service in args.deaths.split(",")
        if service and args.death_trials > 0 and backend != "external"
    ]
    result = {"interruptions": rows, "deaths": deaths, "seconds": time.monotonic() - started}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    leftovers = sum(r[key] for r in rows for key in LEFT)
    slow = [d for d in deaths if d["latency_median_s"] is None or d["latency_median_s"] >= DEATH_TARGET_S]
    return 1 if leftovers or slow else 0


def _print(result: dict[str, Any]) -> None:
    print("Interruptions (target: 0 left; every trial ends as pytest's 'interrupted', exit status 2)")
    header = f"{'backend':8} {'signal':8} {'phase':9} {'-n':>3} {'trials':>6} {'cont.':>6} {'proc.':>6}"
    print(header + f" {'dirs':>5} {'dbs':>4} {'keys':>5} {'interr.':>8} {'exit s':>7}")
    for r in result["interruptions"]:
        print(
            f"{r['backend']:8} {r['signal']:8} {r['phase']:9} {r['workers']:>3} {r['trials']:>6} "
            f"{r['containers']:>6} {r['processes']:>6} {r['dirs']:>5} {r['databases']:>4} {r['keys']:>5} "
            f"{r['interrupted']:>8} {r['exit_median_s']:>7.1f}"
        )
        for line in r["leftover_detail"]:
            print(f"    left: {line}")
    if result["deaths"]:
        print(f"\nDeaths: kill to the next test failing with IK-SVC-DIED (target < {DEATH_TARGET_S:.1f} s)")
        print(f"{'backend':8} {'service':9} {'trials':>6} {'named':>6} {'median s':>9} {'max s':>7}")
        for d in result["deaths"]:
            median = f"{d['latency_median_s']:.3f}" if d["latency_median_s"] is not None else "-"
            worst = f"{d['latency_max_s']:.3f}" if d["latency_max_s"] is not None else "-"
            print(
                f"{d['backend']:8} {d['service']:9} {d['trials']:>6} {d['named']:>6} {median:>9} {worst:>7}"
            )
    print(f"\n{result['seconds']:.0f} s in all")


if __name__ == "__main__":
    raise SystemExit(main())
