"""Interrupted runs leave nothing: SIGINT (Ctrl-C, to the process group) and SIGTERM (to
pytest only) at start, in a test and in teardown, on docker and local, with and without
``-n 2``. After the inner run ends: no container it owns, no process in its directories,
no service or run-state directory, no ``ik_`` database on a surviving server; and pytest
ended as interrupted (exit status 2), so its teardown ran, rather than being killed. On
the external backend (servers the kit did not start): no ``ik_`` database, no Redis key.
One trial per case here; ``benchmarks/interruptions.py`` runs ten of each."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from external_runs import ExternalServers, external_servers, interrupt_external_run
from inner_runs import PHASES, interrupt_run, kill_then_next_run, local_missing

from integration_kit.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(params=["docker", "local"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_settings")  # skips without an engine
    else:
        for kind in ("postgres", "redis"):
            missing = local_missing(kind)
            if missing:
                pytest.skip(f"local {kind} not installed here: {missing}")
    return str(request.param)


@pytest.mark.parametrize("workers", [0, 2], ids=["serial", "xdist"])
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing(backend: str, signum: int, phase: str, workers: int) -> None:
    outcome = interrupt_run(backend, signum, phase, workers)
    # pytest's "interrupted" status: the run unwound (not killed by the signal, -15).
    assert outcome.returncode == 2, outcome.output[-3000:]
    assert outcome.leftovers.total == 0, (outcome.leftovers.detail, outcome.output[-3000:])


@pytest.mark.parametrize(
    ("workers", "next_workers"), [(0, 0), (2, 2), (2, 0)], ids=["serial", "xdist", "xdist-then-serial"]
)
def test_what_a_killed_run_left_is_gone_after_the_next_run(
    backend: str, workers: int, next_workers: int
) -> None:
    # xdist-then-serial: a run-state directory of the killed xdist run is reaped by a serial run.
    outcome = kill_then_next_run(backend, workers, next_workers)
    assert outcome.left_by_kill.total > 0  # SIGKILL: nothing could clean up
    assert outcome.left_after_next.total == 0, (outcome.left_after_next.detail, outcome.output[-3000:])


def test_the_inner_suite_passes_when_nobody_interrupts_it(docker_settings: Settings) -> None:
    # The interrupted runs above fail because of the signal, not because the suite is broken.
    from inner_runs import INTERRUPTED_SUITE, InnerRun

    run = InnerRun.create("docker", 0, {"test_interrupted.py": INTERRUPTED_SUITE})
    try:
        run.start()
        output = run.finish()
        assert run.proc is not None and run.proc.returncode == 0, output
        assert run.leftovers().total == 0
    finally:
        run.clean_up()


@pytest.fixture(scope="module")
def servers() -> Iterator[ExternalServers]:
    """Somebody else's PostgreSQL and Redis, for the external backend."""
    for kind in ("postgres", "redis"):
        missing = local_missing(kind)
        if missing:
            pytest.skip(f"local {kind} not installed here: {missing}")
    with external_servers() as started:
        yield started


@pytest.mark.parametrize(
    ("phase", "workers"),
    [*((phase, 0) for phase in PHASES), ("teardown", 2)],
    ids=[*(f"{phase}-serial" for phase in PHASES), "teardown-xdist"],
)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing_on_external_servers(
    servers: ExternalServers, signum: int, phase: str, workers: int
) -> None:
    # On servers the kit did not start: no ik_ database, no Redis key, no directory left.
    # In teardown the signal lands inside the first database drop of the class's cleanup.
    outcome = interrupt_external_run(servers, signum, phase, workers)
    assert outcome.returncode == 2, outcome.output[-3000:]
    assert outcome.leftovers.total == 0, (outcome.leftovers.detail, outcome.output[-3000:])
