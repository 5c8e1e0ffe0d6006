"""Per-test overhead of the metrics plugin: a generated suite of N trivial tests run by
pytest without the plugin, with the plugin disabled, recording, and sharding from history.

    python benchmarks/metrics_overhead.py [--tests 500] [--runs 5] [--json]

Each variant runs ``--runs`` times, interleaved (so load changes hit all variants alike),
each in a fresh pytest process. The time is pytest's own session time (collection, run and
the plugin's end-of-run write; interpreter start-up excluded); the table shows medians,
the ratio against the baseline and the overhead per test.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMON = ("-q", "-p", "no:cacheprovider", "-p", "no:faker", "-p", "no:randomly")
PLUGIN = ("-p", "integration_kit.metrics.plugin")
_SESSION_TIME = re.compile(r" in ([\d.]+)s")


def make_suite(root: Path, tests: int) -> None:
    """``tests`` trivial tests in files of 50, a third of them marked ``unit``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    for start in range(0, tests, 50):
        lines = ["import pytest", ""]
        for i in range(start, min(start + 50, tests)):
            if i % 3 == 0:
                lines.append("@pytest.mark.unit")
            lines += [f"def test_{i}():", f"    assert {i} == {i}", ""]
        (root / f"test_gen_{start // 50:03d}.py").write_text("\n".join(lines))


def run_pytest(root: Path, args: tuple[str, ...], *, expected: int) -> tuple[float, float]:
    """(session seconds as pytest reports them, wall seconds of the process)."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *COMMON, *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or f"{expected} passed" not in done.stdout:
        raise SystemExit(f"pytest {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = _SESSION_TIME.findall(done.stdout.splitlines()[-1])
    return float(found[-1]), wall


def measure(tests: int, runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="ik-metrics-bench-") as tmp:
        root = Path(tmp)
        make_suite(root, tests)
        history = root / "shard-history.sqlite"
        run_pytest(root, (*PLUGIN, "--ik-metrics-db", str(history)), expected=tests)  # seeds --ik-shard
        variants: dict[str, tuple[str, ...]] = {
            "baseline (no plugin)": (),
            "plugin, --no-ik-metrics": (*PLUGIN, "--no-ik-metrics"),
            "recording": (*PLUGIN, "--ik-metrics-db", "{db}"),
            "--ik-shard=1/1 from history": (
                *PLUGIN,
                "--no-ik-metrics",
                "--ik-metrics-db",
                str(history),
                "--ik-shard=1/1",
            ),
        }
        session: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        for round_ in range(runs):
            for name, args in variants.items():
                db = str(root / f"run-{round_}.sqlite")
                s, w = run_pytest(root, tuple(a.replace("{db}", db) for a in args), expected=tests)
                session[name].append(s)
                wall[name].append(w)
    base = statistics.median(session["baseline (no plugin)"])
    results = {}
    for name in variants:
        median = statistics.median(session[name])
        results[name] = {
            "median_session_s": round(median, 4),
            "median_wall_s": round(statistics.median(wall[name]), 4),
            "session_runs_s": session[name],
            "ratio": round(median / base, 4) if base else None,
            "overhead_per_test_ms": round((median - base) / tests * 1000, 4),
        }
    return {"tests": tests, "runs": runs, "python": sys.version.split()[0], "variants": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=500, help="tests in the generated suite (default 500)")
    parser.add_argument(
        "--runs", type=int, default=5, help="runs per variant; the median is shown (default 5)"
    )
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
    table.add_column("session (median)", justify="right")
    table.add_column("process wall", justify="right")
    table.add_column("ratio vs baseline", justify="right")
    table.add_column("per test", justify="right")
    for name, row in data["variants"].items():  # type: ignore[attr-defined]
        table.add_row(
            name,
            f"{row['median_session_s']:.3f}s",
            f"{row['median_wall_s']:.3f}s",
            f"x{row['ratio']:.3f}",
            f"{row['overhead_per_test_ms']:+.3f} ms",
        )
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
