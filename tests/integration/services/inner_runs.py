"""Runs of a small inner pytest suite through the kit, interrupted or with a service killed,
and what they leave behind. Used by the interruption and death tests and by
``benchmarks/interruptions.py``.

* :func:`interrupt_run`: SIGINT (to the process group, as Ctrl-C in a terminal) or SIGTERM
  (to the pytest process only, as ``kill`` or a CI timeout) at start, in a test or in
  teardown, then :class:`Leftovers`: containers owned by the run, processes in its
  directories, service and run-state directories, ``ik_`` databases on servers that survived.
* :func:`kill_service_run`: kills PostgreSQL, Redis or Kafka while the first test waits;
  the next tests must fail with ``IK-SVC-DIED`` naming it (the reports are recorded with
  their time, for the latency from the kill).

Every run gets its own project and runtime directories (other runs on the machine are
never counted or touched); :func:`clean_up` removes whatever a failed trial left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_kit.errors import WaitTimeoutError
from integration_kit.services import ownership
from integration_kit.waiting import wait_until_sync

PHASES = ("start", "test", "teardown")
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

#: The inner conftest: markers that tell the outer test when the run reached a phase.
CONFTEST = r'''
import os, pathlib, time

MARKER = pathlib.Path(os.environ["IK_MARKER"])
PHASE = os.environ.get("IK_PHASE", "")
HOLD_S = 1.5


def _mark(what):
    MARKER.with_name(MARKER.name + "." + what).write_text(str(os.getpid()))


def _hold_then(name, original):
    """Reached the phase: say so, and hold long enough for the signal to land inside it."""
    def held(*args, **kwargs):
        _mark(name)
        time.sleep(HOLD_S)
        return original(*args, **kwargs)
    return held


if PHASE == "start":
    from integration_kit.services.backends.docker import DockerBackend
    from integration_kit.services.backends.local import LocalBackend

    for cls in (DockerBackend, LocalBackend):
        original_start = cls.start

        def start(self, spec, *, timeout, _original=original_start):
            running = _original(self, spec, timeout=timeout)  # a real server, not yet handed back
            _mark("start")
            time.sleep(HOLD_S)
            return running

        cls.start = start

if PHASE == "teardown":
    import integration_kit.services.backends as registry
    import integration_kit.services.backends.local.server as local_server
    from integration_kit.services.backends.docker.container import DockerRunning

    DockerRunning.stop = _hold_then("teardown", DockerRunning.stop)
    # Inside LocalService.stop, once it has begun (the server is no longer the exit guard's).
    local_server.stop_process_group = _hold_then("teardown", local_server.stop_process_group)
    registry.stop_handle = _hold_then("teardown", registry.stop_handle)  # the xdist controller's


def pytest_runtest_logreport(report):
    if report.failed and not hasattr(report, "node"):  # not again in the xdist controller
        text = str(report.longrepr)
        errors = [line for line in text.splitlines() if "[IK-" in line]  # the kit's error lines
        line = {"nodeid": report.nodeid, "when": report.when, "at": time.time(), "text": "\n".join(errors)}

        with MARKER.with_name(MARKER.name + ".reports").open("a") as out:
            out.write(__import__("json").dumps(line) + "\n")
'''

INTERRUPTED_SUITE = r"""
import os, pathlib, time

def test_uses_services(ik_postgres, ik_redis):
    if os.environ.get("IK_PHASE") == "test":
        pathlib.Path(os.environ["IK_MARKER"] + ".test").write_text(str(os.getpid()))
        time.sleep(120)
"""


@dataclass
class Leftovers:
    """What an ended run left: counts, and one line per item."""

    containers: int = 0
    processes: int = 0
    dirs: int = 0
    databases: int = 0
    keys: int = 0  # the external backend: keys left in the server's Redis databases
    detail: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.containers + self.processes + self.dirs + self.databases + self.keys


@dataclass
class InnerRun:
    """One inner pytest run: its directories and process."""

    backend: str
    workers: int
    project: Path
    runtime: Path
    marker: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    output: str = ""

    @classmethod
    def create(
        cls,
        backend: str,
        workers: int,
        suite: dict[str, str],
        env: dict[str, str] | None = None,
        runtime: Path | None = None,
        conftest_extra: str = "",
    ) -> InnerRun:
        """A fresh project with ``suite``; its own runtime directory unless ``runtime``;
        ``conftest_extra`` appended to the inner conftest (more phase hooks)."""
        project = Path(tempfile.mkdtemp(prefix="ik-inner-"))
        if runtime is None:
            runtime = _fast_tmp() / f"ik-inner-rt-{uuid.uuid4().hex[:8]}"
            runtime.mkdir(mode=0o755)
        (project / "pytest.ini").write_text(INI)
        (project / "conftest.py").write_text(CONFTEST + conftest_extra)
        for name, source in suite.items():
            (project / name).write_text(source)
        return cls(backend, workers, project, runtime, project / "marker", dict(env or {}))

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(self.project),
        ]
        if self.workers:
            argv += ["-n", str(self.workers)]
        self.proc = subprocess.Popen(
            [*argv, str(self.project)],
            cwd=self.project,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGINT to the group is Ctrl-C
        )

    def _env(self) -> dict[str, str]:
        keep = (
            "INTEGRATION_KIT_POSTGRES_IMAGE",
            "INTEGRATION_KIT_REDIS_IMAGE",
            "INTEGRATION_KIT_KAFKA_IMAGE",
            "INTEGRATION_KIT_KAFKA_HOME",
            "INTEGRATION_KIT_CACHE_DIR",  # the outer run's caches (a fresh-machine check has its own)
            "INTEGRATION_KIT_UV",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "INTEGRATION_KIT_"))}
        env.update({k: os.environ[k] for k in keep if k in os.environ})
        env.update(
            INTEGRATION_KIT_BACKEND=self.backend,
            INTEGRATION_KIT_RUNTIME_DIR=str(self.runtime),
            TESTCONTAINERS_RYUK_DISABLED="true",
            IK_MARKER=str(self.marker),
        )
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_for(self, what: str, timeout: float = 180.0) -> None:
        """Wait until the inner run wrote marker ``what`` (AssertionError if it ended first)."""
        path = self.marker.with_name(f"{self.marker.name}.{what}")
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while not path.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"inner run ended ({self.proc.returncode}) before {what}:\n{self.finish()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"inner run never reached {what}")
            time.sleep(0.02)

    def send(self, signum: int) -> None:
        """SIGINT to the whole process group (Ctrl-C); any other signal to pytest only."""
        if signum == signal.SIGINT:
            os.killpg(self.pid, signum)
        else:
            os.kill(self.pid, signum)

    def finish(self, timeout: float = 120.0) -> str:
        assert self.proc is not None
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            out, _ = self.proc.communicate()
        self.output = out.decode(errors="replace") if out else self.output
        return self.output

    def reports(self) -> list[dict[str, Any]]:
        path = self.marker.with_name(self.marker.name + ".reports")
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # -- what is left --

    def leftovers(self) -> Leftovers:
        # The one process the kit leaves on purpose: Kafka's class-data archive, built once per
        # cache after a broker stops (--Xshare:dump). It must end by itself; then count.
        with contextlib.suppress(WaitTimeoutError):
            wait_until_sync(
                lambda: not any("-Xshare:dump" in cmd for _, cmd in self._processes()), timeout=90
            )
        found = Leftovers()
        for container_id, labels in self._containers():
            found.containers += 1
            found.detail.append(f"container {container_id[:12]} ({labels.get(ownership.LABEL_SERVICE)})")
        for pid, cmd in self._processes():
            found.processes += 1
            found.detail.append(f"process {pid}: {cmd[:80]}")
        for sub in ("services", "runs"):
            for path in sorted((self.runtime / sub).glob("*")):
                if path.is_dir():
                    found.dirs += 1
                    found.detail.append(f"directory {path}")
        found.databases = self._kit_databases(found)
        return found

    def _containers(self) -> list[tuple[str, dict[str, str]]]:
        if self.backend != "docker" or self.proc is None:
            return []
        from integration_kit.services.backends.docker.container import labelled_containers

        return labelled_containers(_docker(), f"{ownership.LABEL_PID}={self.pid}")

    def _processes(self) -> list[tuple[int, str]]:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                cwd = Path(os.readlink(entry / "cwd"))
                if ownership.pid_alive(int(entry.name)) and any(
                    str(root) in cmd or cwd == root or root in cwd.parents
                    for root in (self.project, self.runtime)
                ):
                    found.append((int(entry.name), cmd))
        return found

    def _kit_databases(self, found: Leftovers) -> int:
        """``ik_`` databases on PostgreSQL servers of the run that are still up."""
        count = 0
        for port in self._surviving_postgres_ports():
            with contextlib.suppress(Exception):
                names = _list_databases(port)
                kit = [name for name in names if name.startswith("ik_")]
                count += len(kit)
                found.detail.extend(f"database {name} on port {port}" for name in kit)
        return count

    def _surviving_postgres_ports(self) -> list[int]:
        ports = []
        for container_id, labels in self._containers():
            if labels.get(ownership.LABEL_SERVICE) == "postgres":
                with contextlib.suppress(Exception):
                    ports.append(int(_docker().api.port(container_id, 5432)[0]["HostPort"]))
        for pidfile in (self.runtime / "services").glob("postgres-*/ik-local.json"):
            with contextlib.suppress(OSError, ValueError, KeyError):
                record = json.loads(pidfile.read_text())
                if ownership.pid_alive(int(record["pid"])):
                    ports.append(int(record["port"]))
        return ports

    def clean_up(self) -> None:
        """Remove whatever this run left (after counting it), and its directories."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        for container_id, _ in self._containers():
            with contextlib.suppress(Exception):
                _docker().api.remove_container(container_id, force=True, v=True)
        for pid, _ in self._processes():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.project, ignore_errors=True)
        shutil.rmtree(self.runtime, ignore_errors=True)


def local_missing(kind: str) -> str | None:
    """Why the local backend cannot run ``kind`` here (``None`` when it can)."""
    from integration_kit.config import load_settings
    from integration_kit.services.backends.local import LocalBackend
    from integration_kit.services.process import DEFAULT_SPECS

    ok, why = LocalBackend(load_settings(backend="local")).can_run(DEFAULT_SPECS[kind]())
    return None if ok else why


def _fast_tmp() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


_CLIENT: list[Any] = []


def _docker() -> Any:
    if not _CLIENT:
        import docker

        _CLIENT.append(docker.from_env())
    return _CLIENT[0]


def _list_databases(port: int) -> list[str]:
    import asyncio

    import asyncpg

    async def names() -> list[str]:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="test", password="test", database="postgres", timeout=5
        )
        try:
            return [row[0] for row in await conn.fetch("select datname from pg_database")]
        finally:
            await conn.close()

    return asyncio.run(names())


# --- interruptions ---------------------------------------------------------------------------


@dataclass
class Interruption:
    backend: str
    signum: int
    phase: str
    workers: int
    returncode: int | None = None
    seconds_to_exit: float = 0.0
    leftovers: Leftovers = field(default_factory=Leftovers)
    output: str = ""


def interrupt(run: InnerRun, signum: int, phase: str) -> Interruption:
    """Start ``run``, send ``signum`` in ``phase``, count what it left (the caller cleans up)."""
    outcome = Interruption(run.backend, signum, phase, run.workers)
    run.start()
    run.wait_for(phase)
    run.send(signum)
    sent = time.monotonic()
    outcome.output = run.finish()
    outcome.seconds_to_exit = time.monotonic() - sent
    assert run.proc is not None
    outcome.returncode = run.proc.returncode
    outcome.leftovers = run.leftovers()
    return outcome


def interrupt_run(backend: str, signum: int, phase: str, workers: int) -> Interruption:
    """Run the inner suite, send ``signum`` in ``phase``, count what is left; clean up."""
    run = InnerRun.create(backend, workers, {"test_interrupted.py": INTERRUPTED_SUITE}, {"IK_PHASE": phase})
    try:
        return interrupt(run, signum, phase)
    finally:
        run.clean_up()


@dataclass
class Reaped:
    backend: str
    workers: int
    left_by_kill: Leftovers = field(default_factory=Leftovers)
    left_after_next: Leftovers = field(default_factory=Leftovers)
    next_run_s: float = 0.0
    output: str = ""


def kill_then_next_run(backend: str, workers: int, next_workers: int | None = None) -> Reaped:
    """SIGKILL a run in its test (nothing of it can clean up), then start the next run (with
    ``next_workers``, default the same) in the same runtime directory: what the first left
    must be gone when the second ends."""
    first = InnerRun.create(
        backend, workers, {"test_interrupted.py": INTERRUPTED_SUITE}, {"IK_PHASE": "test"}
    )
    second = InnerRun.create(
        backend,
        workers if next_workers is None else next_workers,
        {"test_quick.py": QUICK_SUITE},
        runtime=first.runtime,
    )
    outcome = Reaped(backend, workers)
    try:
        first.start()
        first.wait_for("test")
        os.killpg(first.pid, signal.SIGKILL)
        first.finish()
        outcome.left_by_kill = first.leftovers()
        started = time.monotonic()
        second.start()
        outcome.output = second.finish()
        outcome.next_run_s = time.monotonic() - started
        outcome.left_after_next = first.leftovers()
    finally:
        second.clean_up()
        first.clean_up()
    return outcome


QUICK_SUITE = """
def test_quick(ik_redis):
    assert ik_redis.port > 0
"""


# --- deaths ------------------------------------------------------------------------------------

FIXTURE = {"postgres": "ik_postgres", "redis": "ik_redis", "kafka": "ik_kafka"}
DEATH_SUITE = r"""
import os, pathlib, socket, time

from integration_kit import {case}


def test_1_its_own_connection_fails({fixture}):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    pathlib.Path(os.environ["IK_MARKER"] + ".ready-" + worker).write_text(str(os.getpid()))
    go = pathlib.Path(os.environ["IK_MARKER"] + ".killed")
    while not go.exists():
        time.sleep(0.005)
    _talk({fixture})  # the server was killed meanwhile: refused or closed


def _talk(endpoint):
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        if not sock.recv(1):
            raise ConnectionResetError("the server closed the connection")


class TestAfterTheDeath({case}):
    kafka_topics = {{"orders": 1}}

    async def test_2_needs_it(self):
        pass

    async def test_3_needs_it_again(self):
        pass


def test_4_connects_itself({fixture}):
    _talk({fixture})


def test_5_needs_nothing():
    pass
"""
CASES = {"postgres": "PostgresTestCase", "redis": "RedisTestCase", "kafka": "KafkaTestCase"}
#: Tests that must fail with IK-SVC-DIED: the first in its call (its own connection), the
#: others at setup (the kit saw the death first).
EXPECTED_DEATHS = (
    "test_1_its_own_connection_fails",
    "test_2_needs_it",
    "test_3_needs_it_again",
    "test_4_connects_itself",
)


@dataclass
class Death:
    backend: str
    service: str
    workers: int
    killed_at: float = 0.0
    returncode: int | None = None
    reports: list[dict[str, Any]] = field(default_factory=list)
    output: str = ""
    leftovers: Leftovers = field(default_factory=Leftovers)

    def died_reports(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "IK-SVC-DIED" in r["text"]]

    @property
    def latency_s(self) -> float | None:
        """From the kill to the next test's setup failing with ``IK-SVC-DIED``."""
        died = [r["at"] for r in self.died_reports() if "test_2_needs_it" in r["nodeid"]]
        return min(died) - self.killed_at if died else None


def kill_service_run(backend: str, service: str, workers: int = 0) -> Death:
    """Run the death suite; kill ``service`` (SIGKILL / docker kill) while test 1 waits."""
    case = CASES[service]
    source = DEATH_SUITE.format(case=case, fixture=FIXTURE[service])
    suite = {"test_death_a.py": source}
    if workers:
        suite["test_death_b.py"] = source  # another module: on the other worker (loadscope)
    run = InnerRun.create(backend, workers, suite)
    outcome = Death(backend, service, workers)
    try:
        run.start()
        for worker in [f"gw{i}" for i in range(workers)] or ["main"]:
            run.wait_for(f"ready-{worker}")
        _kill(run, service)
        outcome.killed_at = time.time()
        run.marker.with_name(run.marker.name + ".killed").write_text("")
        outcome.output = run.finish()
        assert run.proc is not None
        outcome.returncode = run.proc.returncode
        outcome.reports = run.reports()
        outcome.leftovers = run.leftovers()
    finally:
        run.clean_up()
    return outcome


def _kill(run: InnerRun, service: str) -> None:
    if run.backend == "docker":
        label = f"{ownership.LABEL_SERVICE}={service}"
        for container_id, labels in run._containers():
            if labels.get(ownership.LABEL_SERVICE) == service:
                _docker().api.kill(container_id)
                return
        raise AssertionError(f"no {service} container ({label}) of the inner run")
    for pidfile in (run.runtime / "services").glob(f"{service}-*/ik-local.json"):
        record = json.loads(pidfile.read_text())
        os.kill(int(record["pid"]), signal.SIGKILL)
        return
    raise AssertionError(f"no local {service} server of the inner run")
