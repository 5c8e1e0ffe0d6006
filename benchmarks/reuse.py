"""Cold against warm (reuse on): services ready, a small suite, and migrate+seed of 50 files.

    python benchmarks/reuse.py [--runs 3] [--backend local,docker] [--migrations 50]
                               [--suite-env example|dev] [--json]

Per backend, in a runtime directory of its own (its warm sets are stopped at the end):

- ``cold_services_s``: a ``ServiceSession`` (reuse off) opens and starts PostgreSQL, Redis
  and Kafka in parallel; stopped after each run. ``warm_services_s``: the same through a
  ``WarmBackend`` with the warm set already up (open, reap, find, wire-probe each one).
- ``cold_suite_s`` / ``warm_suite_s``: the example service's integration tests
  (``examples/orders/tests/integration``) as a separate ``pytest`` process, wall time,
  reuse off / ``--ik-reuse`` (after one untimed warming run each; bytecode is cached
  between runs, in the runtime directory, as on a developer's machine). The runs
  alternate (cold, warm, collect-only, cold, ...), so a machine that slows down or speeds
  up during the benchmark moves both sides alike.
- ``collect_only_s``: the same suite with ``--collect-only`` (no service started, no test
  run): what starting Python and pytest, importing the test modules and exiting cost in
  every run, cold or warm; the warm suite cannot take less.
- ``--suite-env example`` (the default): the suite runs in an environment made as the
  example project's README makes one: the kit installed (not editable) with ``[all]``,
  the project editable with its ``[test]`` extra, versions from ``requirements/dev.txt``
  (built once per benchmark run with uv, ``INTEGRATION_KIT_UV``, in a few seconds from
  its cache). ``--suite-env dev``: the kit's own development environment (this Python),
  which also holds the kit's test-only packages (SQLAlchemy, which factory_boy then
  imports at every start, pytest-cov, pytest-rerunfailures) and the kit as editable
  source, which a seed's source closure then walks.
- ``cold_migrate_s`` / ``warm_migrate_s``: a class snapshot from ``--migrations`` SQL files
  plus a seed hook on the warm PostgreSQL: built afresh (what every run does without
  reuse) / found by its key (what a run with reuse does when nothing changed).

The table shows medians (min..max), the targets (warm services <= 0.1 s, warm
migrate+seed <= 0.05 s, warm suite at least 2x faster than cold) and the cold/warm ratios
measured in the same run. ``--json`` prints one object: ``{"backends": {name: {...}}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from integration_kit.config import Settings, load_settings
from integration_kit.errors import IntegrationKitError
from integration_kit.postgres.janitor import Janitor
from integration_kit.postgres.keyed_snapshots import KeyedSnapshots
from integration_kit.postgres.snapshot import SnapshotCache
from integration_kit.services.base import KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.session import ServiceSession
from integration_kit.services.warm.backend import WarmBackend
from integration_kit.services.warm.store import list_sets

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "orders"
KEYS = (
    "cold_services_s",
    "warm_services_s",
    "cold_suite_s",
    "warm_suite_s",
    "collect_only_s",
    "cold_migrate_s",
    "warm_migrate_s",
)
TARGETS = {"warm_services_s": 0.1, "warm_migrate_s": 0.05}
#: Variables of an outer run that would make the suite's pytest think it is an xdist worker.
OUTER_ONLY = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "PYTEST_ADDOPTS")


def specs() -> list[ServiceSpec]:
    return [PostgresService(), RedisService(), KafkaService()]


async def seed_rows(conn: asyncpg.Connection) -> None:
    """The benchmark's seed hook: a few rows in the first table."""
    await conn.execute("insert into t0 (name) select 'seed ' || g from generate_series(1, 100) g")


def write_migrations(root: Path, count: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (root / f"{index:03d}_t{index}.sql").write_text(
            f"create table t{index} (id serial primary key, name text not null, v int default {index});\n"
            f"create index t{index}_name on t{index} (name);\n"
        )
    return root


def cold_services(settings: Settings) -> float:
    started = time.perf_counter()
    with ServiceSession(settings.replace(reuse=False)) as session:
        session.ensure(specs())
        elapsed = time.perf_counter() - started
    return elapsed


def warm_services(settings: Settings, root: Path) -> float:
    started = time.perf_counter()
    backend = WarmBackend(settings, root=root)
    with ServiceSession(settings, backend=backend) as session:
        session.ensure(specs())
        elapsed = time.perf_counter() - started
    if backend.notes or len(set(backend.reused)) != 3:
        raise RuntimeError(f"the warm set was not reused as a whole: {backend.notes} {backend.reused}")
    return elapsed


def example_env(work: Path) -> str:
    """A Python environment made as the example project's own (see the module doc); its python."""
    uv = os.environ.get("INTEGRATION_KIT_UV") or shutil.which("uv")
    if not uv:
        raise SystemExit("--suite-env example needs uv: source .integration-kit/env (scripts/provision.sh)")
    venv = work / "example-venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "-q", "--python", python, "-c", str(ROOT / "requirements" / "dev.txt")]
    subprocess.run([*install, f"{ROOT}[all]", "-e", f"{EXAMPLE}[test]"], check=True, cwd=work)
    return python


def suite(python: str, settings: Settings, *, reuse: bool, collect_only: bool = False) -> float:
    env = {key: value for key, value in os.environ.items() if key not in OUTER_ONLY}
    env.update(
        INTEGRATION_KIT_BACKEND=settings.backend, INTEGRATION_KIT_RUNTIME_DIR=str(settings.runtime_dir)
    )
    env.pop("CI", None)
    # As on a developer's machine: modules compiled once, not in every run (this machine's
    # environment sets PYTHONDONTWRITEBYTECODE); the caches live outside the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(str(settings.runtime_dir)) / "pycache")
    argv = [
        python,
        "-m",
        "pytest",
        "tests/integration",
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-ik-metrics",
    ]
    if reuse:
        argv.append("--ik-reuse")
    if collect_only:
        argv.append("--collect-only")
    started = time.perf_counter()
    result = subprocess.run(
        argv, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"the example suite failed ({settings.backend}):\n{result.stdout[-3000:]}")
    return elapsed


async def migrate(dsn: str, migrations: Path, meta: Path, runs: int) -> tuple[list[float], list[float]]:
    """Build the snapshot afresh ``runs`` times, then find it by its key ``runs`` times."""
    cold: list[float] = []
    warm: list[float] = []
    async with Janitor(dsn) as janitor:
        for _ in range(runs):
            cache = SnapshotCache()
            started = time.perf_counter()
            await cache.get(janitor, "ik_bench_t0", migrations=migrations, seed=[seed_rows])
            cold.append(time.perf_counter() - started)
            await cache.close()
        first = KeyedSnapshots(project="bench", class_id="benchmarks.reuse", seeds=[seed_rows], meta_dir=meta)
        await first.get(janitor, "ik_bench_t0", migrations=migrations, seed=[seed_rows])
        for _ in range(runs):
            keyed = KeyedSnapshots(
                project="bench", class_id="benchmarks.reuse", seeds=[seed_rows], meta_dir=meta
            )
            started = time.perf_counter()
            await keyed.get(janitor, "ik_bench_t0", migrations=migrations, seed=[seed_rows])
            warm.append(time.perf_counter() - started)
            if keyed.outcome != "reused":
                raise RuntimeError(f"the keyed snapshot was not reused: {keyed.outcome}")
    return cold, warm


def measure(backend: str, runs: int, migrations: int, suite_env: str) -> dict[str, list[float]]:
    runtime = (
        Path("/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir())
        / f"ik-bench-{uuid.uuid4().hex[:8]}"
    )
    runtime.mkdir()
    settings = load_settings(backend=backend, runtime_dir=runtime, reuse=True, start_timeout=120)
    work = Path(tempfile.mkdtemp(prefix="ik-bench-reuse-"))
    results: dict[str, list[float]] = {key: [] for key in KEYS}
    try:
        for _ in range(runs):
            results["cold_services_s"].append(cold_services(settings))
        warm = WarmBackend(settings, root=work)
        endpoint = warm.start(PostgresService(), timeout=120).endpoint
        for spec in specs()[1:]:
            warm.start(spec, timeout=120)
        warm.close()
        for _ in range(runs):
            results["warm_services_s"].append(warm_services(settings, work))
        cold, hot = asyncio.run(
            migrate(endpoint.dsn, write_migrations(work / "migrations", migrations), work / "meta", runs)
        )
        results["cold_migrate_s"], results["warm_migrate_s"] = cold, hot
        python = example_env(work) if suite_env == "example" else sys.executable
        suite(python, settings, reuse=False)  # compiles the modules once, for both
        suite(python, settings, reuse=True)  # warms the example project's own set and snapshots
        for _ in range(runs):
            results["cold_suite_s"].append(suite(python, settings, reuse=False))
            results["warm_suite_s"].append(suite(python, settings, reuse=True))
            results["collect_only_s"].append(suite(python, settings, reuse=False, collect_only=True))
    finally:
        for found in list_sets(settings):
            with found.locked():
                found.stop("benchmark done")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
    return results


def summarize(results: dict[str, list[float]]) -> dict[str, Any]:
    medians = {key: round(statistics.median(values), 4) for key, values in results.items()}
    return {
        **medians,
        "runs": {key: [round(v, 4) for v in values] for key, values in results.items()},
        "services_speedup": round(medians["cold_services_s"] / medians["warm_services_s"], 2),
        "suite_speedup": round(medians["cold_suite_s"] / medians["warm_suite_s"], 2),
        "migrate_speedup": round(medians["cold_migrate_s"] / medians["warm_migrate_s"], 2),
        "targets": {**TARGETS, "suite_speedup": 2.0},
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def render(summaries: dict[str, dict[str, Any]], failures: dict[str, str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="cold vs warm (reuse on): medians in seconds (min..max)")
    table.add_column("what")
    for name in summaries:
        table.add_column(f"{name} cold", justify="right")
        table.add_column(f"{name} warm", justify="right")
        table.add_column("cold / warm", justify="right")
        table.add_column("target", justify="right")
    for what in ("services", "suite", "migrate"):
        cells = [{"services": "services ready", "suite": "example suite", "migrate": "migrate+seed"}[what]]
        for summary in summaries.values():
            for key in (f"cold_{what}_s", f"warm_{what}_s"):
                values = summary["runs"][key]
                cells.append(f"{summary[key]:.3f} ({min(values):.3f}..{max(values):.3f})")
            cells.append(f"{summary[f'{what}_speedup']:.1f}x")
            target = {"services": "warm <= 0.1", "suite": ">= 2.0x", "migrate": "warm <= 0.05"}[what]
            ok = {
                "services": summary["warm_services_s"] <= 0.1,
                "suite": summary["suite_speedup"] >= 2.0,
                "migrate": summary["warm_migrate_s"] <= 0.05,
            }[what]
            cells.append(f"{target} {'ok' if ok else 'over'}")
        table.add_row(*cells)
    cells = ["suite --collect-only (the floor)"]
    for summary in summaries.values():
        values = summary["runs"]["collect_only_s"]
        floor = f"{summary['collect_only_s']:.3f} ({min(values):.3f}..{max(values):.3f})"
        cells += [floor, floor, "", "warm >= this"]
    table.add_row(*cells)
    console = Console(width=max(Console().width, 160))
    console.print(table)
    for name, reason in failures.items():
        console.print(f"{name}: not measured: {reason}")
    console.print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs to take the median of (default 3)")
    parser.add_argument(
        "--backend", default="local,docker", help="backends, comma-separated (default local,docker)"
    )
    parser.add_argument("--migrations", type=int, default=50, help="migration files (default 50)")
    parser.add_argument(
        "--suite-env",
        choices=("example", "dev"),
        default="example",
        help="where the example suite runs: an environment made as the example project's (default) "
        "or the kit's development environment",
    )
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    if args.runs < 1 or args.migrations < 1:
        parser.error("--runs and --migrations must be >= 1")
    backends = [name.strip() for name in args.backend.split(",") if name.strip()]
    unknown = [name for name in backends if name not in ("local", "docker")]
    if not backends or unknown:
        parser.error(f"--backend: unknown {', '.join(unknown) or '(none)'}; use local, docker")
    summaries: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    for backend in backends:
        try:
            summaries[backend] = summarize(measure(backend, args.runs, args.migrations, args.suite_env))
        except IntegrationKitError as exc:
            failures[backend] = f"{exc.code.value}: {exc.message}"
    if args.json:
        print(json.dumps({"backends": summaries, "suite_env": args.suite_env, "not_measured": failures}))
    else:
        render(summaries, failures)
        print(f"the example suite ran in the {args.suite_env} environment (--suite-env)")
    if failures and not summaries:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
