"""Pollution bisect: which earlier test makes a test fail that passes alone.

The run history records each test's position on its worker, so the tests that ran before
a failure are known. :func:`find_polluter` halves them: it runs the first half followed
by the test; if the test fails, the polluter is in that half, else in the other. With
``m`` tests before it that takes ``ceil(log2 m)`` runs, plus one: the test run alone (is
the failure its own?) or, when the last half was inferred rather than seen failing, the
polluter followed by the test (is the answer real?). The answer is always seen: a run of
just the polluter and the test in which the test failed.

Each run is a separate pytest process that runs the given node ids in the given order
(``--ik-run-order=FILE``), without xdist, reruns or recording into the real history.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_kit.errors import ErrorCode, SuiteError
from integration_kit.metrics.history import FAILING, History

Runner = Callable[[Sequence[str]], str]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One run of the bisection: these tests, then the target; the target's outcome."""

    tests: tuple[str, ...]
    outcome: str

    @property
    def failed(self) -> bool:
        return self.outcome in FAILING


@dataclass(kw_only=True)
class Bisection:
    """The outcome of :func:`find_polluter`."""

    target: str
    candidates: tuple[str, ...]
    polluter: str | None = None
    steps: list[Step] = field(default_factory=list)
    passes_alone: bool | None = None

    @property
    def runs(self) -> int:
        return len(self.steps)

    @property
    def budget(self) -> int:
        """The most runs the bisection may take: ``ceil(log2 m) + 1``."""
        return math.ceil(math.log2(len(self.candidates))) + 1 if self.candidates else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "polluter": self.polluter,
            "candidates": len(self.candidates),
            "runs": self.runs,
            "budget": self.budget,
            "passes_alone": self.passes_alone,
            "steps": [
                {"tests": len(s.tests), "outcome": s.outcome, "last": s.tests[-1:]} for s in self.steps
            ],
        }


def find_polluter(target: str, before: Sequence[str], run: Runner) -> Bisection:
    """The test among ``before`` (in their recorded order) after which ``target`` fails.

    ``run(order)`` runs the node ids ``order`` (the target last) and returns the target's
    outcome. The recorded run is taken as the proof that ``before`` + ``target`` fails.
    Raises ``IK-SUITE-FAILS-ALONE`` or ``IK-SUITE-NOT-REPRODUCED``.
    """
    result = Bisection(target=target, candidates=tuple(before))

    def attempt(tests: Sequence[str]) -> Step:
        step = Step(tests=(*tests, target), outcome=run([*tests, target]))
        result.steps.append(step)
        return step

    if not before:
        if attempt([]).failed:
            raise SuiteError(ErrorCode.SUITE_FAILS_ALONE, nodeid=target)
        raise SuiteError(
            ErrorCode.SUITE_NOT_REPRODUCED, nodeid=target, tried="nothing", cause="no test ran before it"
        )
    candidates = list(before)
    seen_failing = len(candidates) == 1  # the recorded run: the only candidate, then the target
    while len(candidates) > 1:
        half = len(candidates) // 2
        first, second = candidates[:half], candidates[half:]
        if attempt(first).failed:
            candidates, seen_failing = first, len(first) == 1
        else:
            candidates, seen_failing = second, False
    suspect = candidates[0]
    if not seen_failing:
        # the last half was inferred; a pass was seen, so the test does not fail by itself
        if not attempt([suspect]).failed:
            raise SuiteError(
                ErrorCode.SUITE_NOT_REPRODUCED,
                nodeid=target,
                tried=f"{suspect} alone",
                cause=f"the bisection narrowed {len(before)} earlier tests to it",
            )
    else:
        alone = attempt([])
        result.passes_alone = not alone.failed
        if alone.failed:
            raise SuiteError(ErrorCode.SUITE_FAILS_ALONE, nodeid=target)
    result.polluter = suspect
    return result


def recorded_predecessors(
    history: History, target: str, *, run_id: int | None = None
) -> tuple[int, list[str]]:
    """``(run id, node ids)``: the tests that ran before ``target`` on its worker, in order,
    in run ``run_id`` or else the newest run in which it failed."""
    if run_id is None:
        failed = [
            r for r in history.results(nodeids=[target]) if r.outcome in FAILING and r.position is not None
        ]
        if not failed:
            raise SuiteError(
                ErrorCode.SUITE_NO_ORDER, nodeid=target, cause="it has no recorded failure with its position"
            )
        run_id = failed[-1].run_id
    results = history.results(run_id=run_id)
    mine = next((r for r in results if r.nodeid == target), None)
    if mine is None or mine.position is None:
        raise SuiteError(
            ErrorCode.SUITE_NO_ORDER, nodeid=target, cause=f"run #{run_id} has no position for it"
        )
    earlier = sorted(
        (
            r
            for r in results
            if r.worker == mine.worker and r.position is not None and r.position < mine.position
        ),
        key=lambda r: r.position or 0,
    )
    return run_id, [r.nodeid for r in earlier]


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def pytest_runner(
    rootdir: Path,
    *,
    extra_args: Sequence[str] = (),
    python: str = sys.executable,
    on_run: Callable[[int, Sequence[str], str], None] | None = None,
) -> Runner:
    """A :data:`Runner` that runs each order in a new pytest process under ``rootdir``
    and reads the target's outcome from a throwaway history."""
    counter = [0]
    switches = []
    if _has_module("xdist"):
        switches.append("-n0")
    if _has_module("pytest_rerunfailures"):
        switches.append("--reruns=0")

    def run(order: Sequence[str]) -> str:
        counter[0] += 1
        target = order[-1]
        with tempfile.TemporaryDirectory(prefix="ik-bisect-") as tmp:
            order_file = Path(tmp) / "order.txt"
            order_file.write_text("\n".join(order) + "\n", encoding="utf-8")
            db = Path(tmp) / "history.sqlite"
            modules = list(dict.fromkeys(nodeid.split("::", 1)[0] for nodeid in order))
            command = [
                python, "-m", "pytest", "-q", "-p", "no:randomly", *extra_args, *switches,
                f"--ik-run-order={order_file}", f"--ik-metrics-db={db}", "--ik-metrics",
                *modules,
            ]  # fmt: skip
            env = {**os.environ, "INTEGRATION_KIT_SHUFFLE": "off"}
            done = subprocess.run(command, cwd=rootdir, capture_output=True, text=True, env=env, check=False)
            outcome = "missing"
            if db.is_file():
                with History(db, create=False) as history:
                    outcome = next((r.outcome for r in history.results() if r.nodeid == target), "missing")
        if outcome == "missing":
            raise SuiteError(
                ErrorCode.SUITE_NOT_REPRODUCED,
                nodeid=target,
                tried=f"a run of {len(order)} tests",
                cause=f"it did not run (pytest exit status {done.returncode}): "
                + (done.stdout[-1500:] + done.stderr[-1500:]).strip(),
            )
        if on_run is not None:
            on_run(counter[0], order, outcome)
        return outcome

    return run
