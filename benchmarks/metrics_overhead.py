"""Per-test overhead of the metrics and suite plugins: a generated suite of N trivial tests
run by pytest without the plugins, with recording disabled, recording, recording in a
shuffled order, recording with leak checks, and sharding from history.

    python benchmarks/metrics_overhead.py [--tests 500] [--runs 5] [--json]

Each variant runs ``--runs`` times, interleaved (so load changes hit all variants alike),
each in a fresh pytest process. A small timing plugin measures the session, from
``pytest_sessionstart`` to ``pytest_unconfigure`` (collection, the tests, and the plugin's
end-of-run write; interpreter start-up excluded), as CPU time of the pytest process
(steady on a busy machine) and as wall time. The table shows medians, the ratio against
the baseline and the overhead per test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMON = ("-q", "-p", "no:cacheprovider", "-p", "no:faker", "-p", "_ik_bench_timer")
PLUGIN = ("-p", "integration_kit.metrics.plugin", "-p", "integration_kit.suite.plugin")
BASELINE = ("-p", "no:integration_kit.metrics.plugin", "-p", "no:integration_kit.suite.plugin")
TIMER = """
import os
import time

_started = {}


def pytest_sessionstart(session):
    _started["cpu"], _started["wall"] = time.process_time(), time.perf_counter()


def pytest_unconfigure(config):
    if "cpu" in _started:
        with open(os.environ["IK_BENCH_OUT"], "w") as out:
            out.write(f"{time.process_time() - _started['cpu']} {time.perf_counter() - _started['wall']}")
"""


def make_suite(root: Path, tests: int) -> None:
    """``tests`` trivial tests in files of 50, a third of them marked ``unit``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    (root / "_ik_bench_timer.py").write_text(TIMER)
    for start in range(0, tests, 50):
        lines = ["import pytest", ""]
        for i in range(start, min(start + 50, tests)):
            if i % 3 == 0:
                lines.append("@pytest.mark.unit")
            lines += [f"def test_{i}():", f"    assert {i} == {i}", ""]
        (root / f"test_gen_{start // 50:03d}.py").write_text("\n".join(lines))


def run_pytest(root: Path, args: tuple[str, ...], *, expected: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one pytest session."""
    out = root / "timing.txt"
    env = {**os.environ, "IK_BENCH_OUT": str(out), "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *COMMON, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or f"{expected} passed" not in done.stdout:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cpu, wall = out.read_text().split()
    return float(cpu), float(wall)


def hook_cost(tests: int, runs: int) -> dict[str, float]:
    """In-process cost of the recorder alone: its ``pytest_runtest_logreport`` for the
    setup/call/teardown reports of ``tests`` tests, and the one-transaction write."""
    from types import SimpleNamespace

    import pytest

    from integration_kit.metrics.history import History, RunRecord
    from integration_kit.metrics.plugin import _Recorder

    reports = [
        pytest.TestReport(
            f"test_gen.py::test_{i}",
            ("test_gen.py", i, f"test_{i}"),
            {},
            "passed",
            None,
            when,
            duration=0.001,
        )
        for i in range(tests)
        for when in ("setup", "call", "teardown")
    ]
    for report in reports:
        report.ik_markers = ["unit"]  # type: ignore[attr-defined]
    hooks: list[float] = []
    writes: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ik-metrics-bench-") as tmp:
        config = SimpleNamespace(rootpath=Path(tmp), option=SimpleNamespace(dist="no"))
        for round_ in range(runs):
            recorder = _Recorder(config)  # type: ignore[arg-type]
            started = time.perf_counter()
            for report in reports:
                recorder.pytest_runtest_logreport(report)
            hooks.append(time.perf_counter() - started)
            started = time.perf_counter()
            with History(Path(tmp) / f"h{round_}.sqlite") as history:
                history.record(RunRecord(started_at=0.0, finished_at=1.0), recorder._results())
            writes.append(time.perf_counter() - started)
    return {
        "logreport_per_test_us": round(statistics.median(hooks) / tests * 1e6, 2),
        "write_run_ms": round(statistics.median(writes) * 1000, 2),
        "write_per_test_us": round(statistics.median(writes) / tests * 1e6, 2),
    }


def measure(tests: int, runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ik-metrics-bench-") as tmp:
        root = Path(tmp)
        make_suite(root, tests)
        history = root / "shard-history.sqlite"
        run_pytest(root, (*PLUGIN, f"--ik-metrics-db={history}"), expected=tests)  # seeds --ik-shard
        variants: dict[str, tuple[str, ...]] = {
            "baseline (no plugin)": BASELINE,
            "plugin, --no-ik-metrics": (*PLUGIN, "--no-ik-metrics"),
            "recording": (*PLUGIN, "--ik-metrics-db={db}"),
            "recording, --ik-shuffle=1": (*PLUGIN, "--ik-metrics-db={db}", "--ik-shuffle=1"),
            "recording, --ik-leaks": (*PLUGIN, "--ik-metrics-db={db}", "--ik-leaks"),
            "--ik-shard=1/1 from history": (
                *PLUGIN,
                "--no-ik-metrics",
                f"--ik-metrics-db={history}",
                "--ik-shard=1/1",
            ),
        }
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(runs):
            for name, args in variants.items():
                db = str(root / f"run-{round_}.sqlite")
                c, w = run_pytest(root, tuple(a.replace("{db}", db) for a in args), expected=tests)
                cpu[name].append(c)
                wall[name].append(w)
    base_cpu = statistics.median(cpu["baseline (no plugin)"])
    base_wall = statistics.median(wall["baseline (no plugin)"])
    results = {}
    for name in variants:
        median_cpu = statistics.median(cpu[name])
        median_wall = statistics.median(wall[name])
        results[name] = {
            "median_cpu_s": round(median_cpu, 4),
            "median_wall_s": round(median_wall, 4),
            "cpu_runs_s": [round(v, 4) for v in cpu[name]],
            "wall_runs_s": [round(v, 4) for v in wall[name]],
            "cpu_ratio": round(median_cpu / base_cpu, 4),
            "wall_ratio": round(median_wall / base_wall, 4),
            "cpu_overhead_per_test_ms": round((median_cpu - base_cpu) / tests * 1000, 4),
            "wall_overhead_per_test_ms": round((median_wall - base_wall) / tests * 1000, 4),
        }
    return {
        "tests": tests,
        "runs": runs,
        "python": sys.version.split()[0],
        "variants": results,
        "recorder": hook_cost(tests, runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=500, help="tests in the generated suite (default 500)")
    parser.add_argument("--runs", type=int, default=5, help="runs per variant; medians shown (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options = parser.parse_args(argv)
    data = measure(options.tests, options.runs)
    if options.json:
        print(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"metrics plugin overhead: {options.tests} trivial tests, median of {options.runs} runs"
    )
    table.add_column("variant")
    table.add_column("session CPU", justify="right")
    table.add_column("CPU ratio", justify="right")
    table.add_column("CPU per test", justify="right")
    table.add_column("session wall", justify="right")
    table.add_column("wall ratio", justify="right")
    for name, row in data["variants"].items():
        table.add_row(
            name,
            f"{row['median_cpu_s']:.3f}s",
            f"x{row['cpu_ratio']:.3f}",
            f"{row['cpu_overhead_per_test_ms']:+.3f} ms",
            f"{row['median_wall_s']:.3f}s",
            f"x{row['wall_ratio']:.3f}",
        )
    console = Console(width=120)
    console.print(table)
    cost = data["recorder"]
    console.print(
        f"recorder alone, in-process: {cost['logreport_per_test_us']:.1f} us per test for its reports, "
        f"{cost['write_run_ms']:.1f} ms to write the run ({cost['write_per_test_us']:.1f} us per test)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
