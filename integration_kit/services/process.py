"""``ProcessService``: the user's own service under test, run as a subprocess.

::

    app = ProcessService(
        name="app",
        command=["python", "-m", "myapp", "--port", "{port}"],
        env={"DATABASE_URL": "{postgres.dsn}", "KAFKA": "{kafka.bootstrap_servers}"},
        health=HttpHealth("/health"),
    )

Placeholders in ``command`` and ``env``: ``{port}`` (a free port, or ``port=``), and
``{<service>.<attribute>}`` for any :class:`~integration_kit.services.base.Endpoint`
attribute of a dependency (``{postgres.dsn}``, ``{redis.url}``,
``{kafka.bootstrap_servers}``, ``{postgres.port}``...). A placeholder's service is a
dependency by itself; ``requires`` adds or customises dependencies.
``{kafka.topic:orders}`` is the real name of topic ``orders`` for this process: the
declaring ``KafkaTestCase``'s own topic (worker-prefixed under pytest-xdist, unique
where the class asks for it), else the xdist worker's name for it (``gw0.orders``).

``scope="class"`` (the default): in a ``ServiceTestCase`` the process starts after the
class's setup and stops at its teardown, before the class's topics are deleted.
``scope="session"``: started once and shared by every class that declares it, until
the end of the run (in each pytest-xdist worker, the worker's own copy).

The process runs in its own process group, its stdout and stderr go to a log file that
failing tests show, it is healthy when its ``health`` check passes (TCP on ``{port}``
by default), and a process that exits before that fails at once with its exit code and
log tail (``IK-SVC-PROCESS-EXITED``), not at the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from integration_kit.errors import ErrorCode, ServiceError, UsageError
from integration_kit.health import CommandCheck, HealthCheck, HttpCheck, TcpCheck
from integration_kit.services.base import (
    Endpoint,
    KafkaService,
    PostgresService,
    RedisService,
    ServiceSpec,
)
from integration_kit.services.readiness import run_blocking
from integration_kit.waiting import Backoff, check_timeout

HOST = "127.0.0.1"
LOG_TAIL_LINES = 40
HEALTH_BACKOFF = Backoff(initial=0.01, factor=1.5, maximum=0.25, jitter=0.2)
DEFAULT_SPECS: dict[str, type[ServiceSpec]] = {
    "postgres": PostgresService,
    "redis": RedisService,
    "kafka": KafkaService,
}


# --- health checks -------------------------------------------------------------------------
# Templates: the port is known only once the process is started. Each builds the matching
# check of :mod:`integration_kit.health` for the started process's endpoint.


@dataclass(frozen=True)
class TcpHealth:
    """Healthy when a TCP connection to ``host:port`` (default: the service's port) opens."""

    port: int | None = None
    host: str = HOST

    def check(self, endpoint: Endpoint) -> HealthCheck:
        return TcpCheck(host=self.host, port=self.port or endpoint.port)


@dataclass(frozen=True)
class HttpHealth:
    """Healthy when ``GET http://host:port<path>`` answers with ``status``."""

    path: str = "/"
    status: int = 200
    port: int | None = None
    host: str = HOST

    def check(self, endpoint: Endpoint) -> HealthCheck:
        url = f"http://{self.host}:{self.port or endpoint.port}{self.path}"
        return HttpCheck(url=url, expect_status=(self.status,))


@dataclass(frozen=True)
class CommandHealth:
    """Healthy when ``command`` exits 0 (``{port}`` is filled in)."""

    command: Sequence[str] | str

    def check(self, endpoint: Endpoint) -> HealthCheck:
        argv = [arg.replace("{port}", str(endpoint.port)) for arg in _argv(self.command)]
        return CommandCheck(argv=argv)


HealthTemplate = TcpHealth | HttpHealth | CommandHealth
PROCESS_SCOPES = ("class", "session")


# --- the spec ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProcessService(ServiceSpec):
    """A subprocess of the test run (see the module docstring). ``name`` is required."""

    kind: ClassVar[str] = "process"
    command: Sequence[str] | str
    env: Mapping[str, str] = field(default_factory=dict)
    health: HealthTemplate = field(default_factory=TcpHealth)
    requires: Sequence[ServiceSpec] = ()
    cwd: str | None = None
    inherit_env: bool = True
    stop_timeout: float = 5.0
    scope: str = "class"

    def __post_init__(self) -> None:
        if self.scope not in PROCESS_SCOPES:
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute=f"{self.name}.scope",
                value=self.scope,
                owner="ProcessService",
                expected=" or ".join(map(repr, PROCESS_SCOPES)),
            )
        check_timeout(self.stop_timeout, f"{self.name}.stop_timeout")  # nan: a stop that never ends
        if not self.name:
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute="ProcessService.name",
                value=self.name,
                owner="ProcessService",
                expected="a non-empty name (the attribute the handle is reachable as)",
            )
        if not _argv(self.command):
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute=f"{self.name}.command",
                value=self.command,
                owner="ProcessService",
                expected="a non-empty command",
            )
        for root in self.placeholder_roots():
            if root != "port" and root not in DEFAULT_SPECS and root not in {s.key for s in self.requires}:
                raise UsageError(
                    ErrorCode.USAGE_INVALID_DECLARATION,
                    attribute=f"{self.name} placeholder",
                    value="{" + root + "...}",
                    owner="ProcessService",
                    expected="{port}, {postgres.*}, {redis.*}, {kafka.*} or a key listed in requires",
                )
        self.topic_placeholders()

    def topic_placeholders(self) -> list[str]:
        """Topic names used as ``{kafka.topic:<name>}``, in first-seen order."""
        seen: dict[str, None] = {}
        for text in [*_argv(self.command), *self.env.values()]:
            for _, field_name, format_spec, _ in string.Formatter().parse(text):
                if field_name == "kafka.topic":
                    if not format_spec:
                        raise UsageError(
                            ErrorCode.USAGE_INVALID_DECLARATION,
                            attribute=f"{self.name} placeholder",
                            value="{kafka.topic}",
                            owner="ProcessService",
                            expected="a topic name after a colon: {kafka.topic:orders}",
                        )
                    seen.setdefault(format_spec, None)
        return list(seen)

    def placeholder_roots(self) -> list[str]:
        """Services named by placeholders (``port`` included), in first-seen order."""
        seen: dict[str, None] = {}
        for text in [*_argv(self.command), *self.env.values()]:
            for _, field_name, _, _ in string.Formatter().parse(text):
                if field_name:
                    seen.setdefault(field_name.split(".")[0].split("[")[0], None)
        return list(seen)

    def dependencies(self) -> list[ServiceSpec]:
        """``requires`` plus a default spec for every placeholder service not in it."""
        deps = {spec.key: spec for spec in self.requires}
        for root in self.placeholder_roots():
            if root in DEFAULT_SPECS and root not in deps:
                deps[root] = DEFAULT_SPECS[root]()
        return list(deps.values())


def _argv(command: Sequence[str] | str) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


# --- running it ----------------------------------------------------------------------------


class _Endpoints(dict[str, Any]):
    """Format mapping: dependency endpoints by key, plus ``port``."""


@dataclass(frozen=True)
class TopicNames:
    """``{kafka.topic:<name>}``: a topic's real name for the process being started.

    ``names`` maps the declared names of the class's topics to their real ones; any
    other name gets the xdist worker's prefix (``Namespace.topic``).
    """

    names: Mapping[str, str] = field(default_factory=dict)
    worker: str | None = None

    def __format__(self, spec: str) -> str:
        if not spec:
            raise KeyError("kafka.topic needs a topic name: {kafka.topic:orders}")
        if spec in self.names:
            return self.names[spec]
        from integration_kit.services.namespace import Namespace

        namespace = Namespace(self.worker) if self.worker else Namespace.current()
        return namespace.topic(spec)


@dataclass(frozen=True)
class _KafkaView:
    """A Kafka endpoint as placeholders see it: its attributes plus ``topic``."""

    endpoint: Endpoint
    topic: TopicNames

    def __getattr__(self, name: str) -> Any:
        return getattr(self.endpoint, name)

    def __format__(self, spec: str) -> str:
        return format(self.endpoint, spec)


def render(text: str, values: Mapping[str, Any], *, topics: TopicNames | None = None) -> str:
    """Fill ``{port}``, ``{service.attribute}`` and ``{kafka.topic:name}`` placeholders."""
    mapping = _Endpoints(values)
    kafka = mapping.get("kafka")
    if isinstance(kafka, Endpoint):
        mapping["kafka"] = _KafkaView(kafka, topics if topics is not None else TopicNames())
    return text.format_map(mapping)


@dataclass
class RunningProcess:
    """A started :class:`ProcessService`: endpoint, process, captured log."""

    spec: ProcessService
    endpoint: Endpoint
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str]
    _workdir: tempfile.TemporaryDirectory[str] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.endpoint.url

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_size(self) -> int:
        """Bytes logged so far (an offset for :meth:`log_text`)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_text(self, since: int = 0) -> str:
        """The captured stdout+stderr from byte offset ``since``."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(since)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().rstrip().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after ``stop_timeout``; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _terminate_group(self.process, self.spec.stop_timeout)
        self._workdir.cleanup()


def _terminate_group(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # Children of the process may outlive it: the group goes in any case.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


_PR_SET_PDEATHSIG = 1


def _prctl() -> Any:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _child_setup(prctl: Any) -> Any:
    """``preexec_fn``: own session, and SIGKILL when the parent dies (Linux), so a run
    killed with SIGKILL leaks no process. Resolved in the parent: the child only calls."""

    def setup() -> None:
        os.setsid()
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return setup


def start_process(
    spec: ProcessService,
    *,
    endpoints: Mapping[str, Endpoint],
    timeout: float,
    topics: Mapping[str, str] | None = None,
) -> RunningProcess:
    """Start ``spec`` with its dependencies' ``endpoints``; return once it is healthy.

    ``topics`` maps declared topic names to real ones for ``{kafka.topic:<name>}``.
    """
    from integration_kit.services.ports import free_port, port_is_free

    deadline = time.monotonic() + check_timeout(timeout, f"starting {spec.key}")
    if spec.port is not None:
        if not port_is_free(spec.port):
            raise ServiceError(ErrorCode.SVC_PORT_IN_USE, port=spec.port, host=HOST, service=spec.key)
        port = spec.port
    else:
        port = free_port()
    values: dict[str, Any] = {**endpoints, "port": port}
    names = TopicNames(dict(topics or {}))
    try:
        argv = [render(arg, values, topics=names) for arg in _argv(spec.command)]
        env_extra = {key: render(value, values, topics=names) for key, value in spec.env.items()}
    except (KeyError, AttributeError, IndexError, ValueError) as exc:
        raise UsageError(
            ErrorCode.USAGE_INVALID_DECLARATION,
            attribute=f"{spec.name} placeholders",
            value=exc,
            owner="ProcessService",
            expected="placeholders naming started services and Endpoint attributes",
        ) from exc
    executable = _resolve(argv[0], spec)
    env = {**(os.environ if spec.inherit_env else {}), **env_extra}
    workdir = tempfile.TemporaryDirectory(prefix=f"ik-{spec.name}-")
    log_path = Path(workdir.name) / "output.log"
    endpoint = Endpoint(host=HOST, port=port, extra={"scheme": "http"})
    in_main_thread = threading.current_thread() is threading.main_thread()
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                [executable, *argv[1:]],
                cwd=spec.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only safe from
                # the main thread, which lives as long as the run.
                preexec_fn=_child_setup(_prctl()) if in_main_thread else None,
                start_new_session=not in_main_thread,
            )
        except OSError as exc:
            workdir.cleanup()
            raise ServiceError(
                ErrorCode.SVC_COMMAND_NOT_FOUND, command=argv[0], service=spec.key, cause=exc
            ) from exc
    running = RunningProcess(
        spec=spec, endpoint=endpoint, process=process, log_path=log_path, argv=argv, _workdir=workdir
    )
    try:
        _wait_healthy(running, deadline=deadline, timeout=timeout)
    except BaseException:
        running.stop()
        raise
    return running


def _resolve(command: str, spec: ProcessService) -> str:
    if os.sep in command:
        path = Path(command) if spec.cwd is None or os.path.isabs(command) else Path(spec.cwd) / command
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = None
    else:
        found = shutil.which(command)
    if found is None:
        raise ServiceError(
            ErrorCode.SVC_COMMAND_NOT_FOUND,
            command=command,
            service=spec.key,
            cause="not an executable file" if os.sep in command else "not on PATH",
        )
    return found


def _wait_healthy(running: RunningProcess, *, deadline: float, timeout: float) -> None:
    """Poll the health check; fail at once if the process exits, at the deadline otherwise."""
    check = running.spec.health.check(running.endpoint)
    last = run_blocking(lambda: _poll(running, check, deadline))
    if last is None:
        return
    if isinstance(last, ServiceError):
        raise last
    raise ServiceError(
        ErrorCode.SVC_NOT_HEALTHY,
        service=running.spec.key,
        timeout=timeout,
        cause=f"{check.describe()}: {type(last).__name__}: {last}",
        log_tail=running.log_tail() or "(no output)",
    ) from last


async def _poll(running: RunningProcess, check: HealthCheck, deadline: float) -> BaseException | None:
    last: BaseException = TimeoutError("never checked")
    for delay in HEALTH_BACKOFF.delays():
        returncode = running.process.poll()
        if returncode is not None:
            return ServiceError(
                ErrorCode.SVC_PROCESS_EXITED,
                service=running.spec.key,
                returncode=returncode,
                log_tail=running.log_tail() or "(no output)",
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        try:
            await asyncio.wait_for(check.probe(), min(remaining, 2.0))
            return None
        except Exception as exc:  # any failure means "not yet"
            last = exc
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return last
        await asyncio.sleep(min(delay, remaining))
    return last
