"""``ServiceSession``: start what the tests need once per run, in parallel, and stop it once.

::

    with ServiceSession() as session:
        pg = session.endpoint(PostgresService())          # started on first use
        session.ensure([RedisService(), KafkaService()])  # both at once, in threads

- Services start lazily (on the first :meth:`~ServiceSession.ensure`), each at most once
  per session: equal specs share one running service.
- Specs requested together start in parallel; a start that fails with a flaky-looking
  error (not ready in time, exited early) is retried up to ``start_attempts`` times.
- If one of them still fails, the others of the batch are stopped and
  ``IK-SVC-START-FAILED`` names the one that failed, with its cause and log tail; the
  failure is remembered, so later requests fail at once instead of waiting again.
- :class:`~integration_kit.services.process.ProcessService` specs start after their
  dependencies, with the dependencies' endpoints filled into their placeholders.
- Everything stops once: at :meth:`~ServiceSession.stop` / ``__exit__``, at interpreter
  exit, and on SIGTERM (turned into ``KeyboardInterrupt`` so that the normal unwinding,
  pytest's teardown included, runs). Leftovers of dead runs are reaped at :meth:`open`.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, cast

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, IntegrationKitError, ServiceError, UsageError
from integration_kit.services.base import Backend, BackendService, Endpoint, RunningService, ServiceSpec
from integration_kit.services.coordination import current_run_id, reap_runs
from integration_kit.services.failures import is_retryable, start_failed
from integration_kit.services.identity import expand, identity
from integration_kit.services.interrupts import join_all, keep_stopping, restore_sigterm, sigterm_as_interrupt
from integration_kit.services.process import ProcessService, RunningProcess, start_process
from integration_kit.services.watch import DeathWatch

#: How long an interrupted session waits for its start threads to clean up.
INTERRUPT_GRACE_S = 10.0


@dataclass
class _Outcome:
    running: BackendService | None = None
    error: BaseException | None = None
    attempts: int = 0
    seconds: float = 0.0


@dataclass
class StartRecord:
    """How a service's start went: start-to-ready seconds (last attempt) and attempts."""

    key: str
    seconds: float
    attempts: int
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class ServiceSession:
    """Owns the services of one run. See the module docstring."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backend: Backend | None = None,
        reap: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._backend = backend
        self._reap = reap
        self._lock = threading.RLock()
        self._running: dict[str, RunningService] = {}
        self._order: list[str] = []
        self._failed: dict[str, ServiceError] = {}
        self._specs: dict[str, ServiceSpec] = {}
        self.records: dict[str, StartRecord] = {}
        self.deaths = DeathWatch()
        self._opened = False
        self._closed = False
        self._stopped = False
        self._cancel = threading.Event()
        self._previous_sigterm: Any = None
        self._reaped = 0

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend, selected from the settings on first use."""
        if self._backend is None:
            from integration_kit.services.selection import select_backend

            self._backend = select_backend(self.settings)
        return self._backend

    @property
    def reaped(self) -> int:
        """How many leftovers of dead runs :meth:`open` removed."""
        return self._reaped

    def open(self) -> ServiceSession:
        """Reap leftovers of dead runs; arrange for stopping on SIGTERM and at exit."""
        if self._opened:
            return self
        self._opened = True
        atexit.register(self.stop)
        self._previous_sigterm = sigterm_as_interrupt()
        if self._reap:
            # Run-state dirs of SIGKILLed xdist runs too (an xdist worker's register reaps them).
            self._reaped = self.backend.reap() + (reap_runs(self.settings) if current_run_id() is None else 0)
        return self

    def __enter__(self) -> ServiceSession:
        try:
            return self.open()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop every service (processes first, then in reverse start order); idempotent.

        An interrupt (Ctrl-C, SIGTERM) during the stop is held back until every service is
        stopped (:func:`~integration_kit.services.interrupts.keep_stopping`); a second one
        abandons the stop, and a later call (at exit) goes on with what is left.
        """
        with self._lock:
            self._closed = True
            self._cancel.set()
            if self._stopped:
                return
        errors: list[BaseException] = []
        try:
            with keep_stopping():
                while (running := self._next_to_stop()) is not None:
                    try:
                        running.stop()
                    except Exception as exc:
                        errors.append(exc)
                if self._backend is not None:
                    with contextlib.suppress(Exception):
                        self._backend.close()
                self._stopped = True
        finally:
            if self._stopped:  # else (abandoned) the stop at exit goes on
                atexit.unregister(self.stop)
                restore_sigterm(self._previous_sigterm)
                self._previous_sigterm = None
        if errors:
            raise errors[0]

    def _next_to_stop(self) -> RunningService | None:
        """Take the next service to stop off the running ones: processes first, newest first."""
        with self._lock:
            if not self._order:
                return None
            processes = [key for key in self._order if isinstance(self._running[key], RunningProcess)]
            key = (processes or self._order)[-1]
            self._order.remove(key)
            return self._running.pop(key)

    # --- starting -------------------------------------------------------------------------

    def ensure(
        self,
        specs: Iterable[ServiceSpec],
        *,
        overrides: Mapping[str, Endpoint] | None = None,
        topics: Mapping[str, str] | None = None,
    ) -> dict[str, RunningService]:
        """Start whichever of ``specs`` are not running yet; return all of them by key.

        ``overrides`` replace dependency endpoints (by service key) for processes started
        by this call, e.g. a test class's own database instead of the server's default;
        ``topics`` names the real topics behind ``{kafka.topic:<name>}`` placeholders.
        """
        specs = list(specs)
        self._check_open()
        backend_specs, processes = expand(specs)
        for spec in [*backend_specs, *processes]:
            self._claim(spec)
        self._start_batch(backend_specs)
        for process in processes:
            self._start_process(process, overrides or {}, topics or {})
        return {spec.key: self._running[identity(spec)] for spec in specs}

    def release(self, specs: Iterable[ServiceSpec]) -> None:
        """Stop the running processes among ``specs`` and forget them (a later
        :meth:`ensure` starts them afresh); backend services are left running."""
        errors: list[BaseException] = []
        for spec in specs:
            if not isinstance(spec, ProcessService):
                continue
            with self._lock:
                ident = identity(spec)
                running = self._running.pop(ident, None)
                if running is None:
                    continue
                self._order.remove(ident)
            try:
                running.stop()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def get(self, spec: ServiceSpec) -> RunningService:
        """The running service for ``spec``, started if needed."""
        return self.ensure([spec])[spec.key]

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        """Where ``spec`` is reached, started if needed (the ``EndpointSource`` protocol)."""
        return self.get(spec).endpoint

    def running(self) -> list[RunningService]:
        """Running services in start order."""
        with self._lock:
            return [self._running[key] for key in self._order]

    def check_alive(self, specs: Iterable[ServiceSpec], *, grace: float = 0.0) -> None:
        """Raise ``IK-SVC-DIED`` if one of ``specs`` that runs has died (see :mod:`.watch`)."""
        __tracebackhide__ = True
        with self._lock:
            running = [self._running[ident] for spec in specs if (ident := identity(spec)) in self._running]
        self.deaths.check(running, grace=grace)

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceError(
                ErrorCode.SVC_START_FAILED, service="(session)", cause="the session is stopped"
            )
        if not self._opened:
            self.open()

    def _claim(self, spec: ServiceSpec) -> None:
        """Record ``spec`` under its identity; a different spec there is a usage error."""
        with self._lock:
            known = self._specs.setdefault(identity(spec), spec)
        if known != spec:
            raise UsageError(
                ErrorCode.USAGE_SPEC_CONFLICT, key=spec.key, first=repr(known), second=repr(spec)
            )

    def _pending(self, specs: Sequence[ServiceSpec]) -> list[ServiceSpec]:
        pending: dict[str, ServiceSpec] = {}
        for spec in specs:
            ident = identity(spec)
            if ident in self._failed:
                raise self._failed[ident]
            if ident not in self._running:
                pending.setdefault(ident, spec)
        return list(pending.values())

    def _start_batch(self, specs: Sequence[ServiceSpec]) -> None:
        with self._lock:
            pending = self._pending(specs)
            if not pending:
                return
            outcomes = {identity(spec): _Outcome() for spec in pending}
            threads = [
                threading.Thread(
                    target=self._start_one,
                    args=(spec, outcomes[identity(spec)]),
                    name=f"ik-start-{spec.key}",
                    daemon=True,  # an interrupted run must not wait for a start to finish
                )
                for spec in pending
            ]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except BaseException:
                # Interrupted (Ctrl-C, SIGTERM): make the starts give up, and clean up what
                # they got so far (the backend removes half-started containers). Then give
                # the start threads a moment to notice and remove what they were creating:
                # they are daemons, and would otherwise die with the interpreter mid-way.
                self._cancel.set()
                self._collect(pending, outcomes)
                self.stop()
                join_all(threads, timeout=INTERRUPT_GRACE_S)
                raise
            failed = [spec for spec in pending if outcomes[identity(spec)].error is not None]
            self._collect(pending, outcomes)
            if failed:
                self._fail(failed, pending, outcomes)

    def _collect(self, pending: Sequence[ServiceSpec], outcomes: dict[str, _Outcome]) -> None:
        for spec in pending:
            outcome = outcomes[identity(spec)]
            if outcome.running is not None:
                self._running[identity(spec)] = outcome.running
                self._order.append(identity(spec))
                self.records[spec.key] = StartRecord(
                    key=spec.key,
                    seconds=outcome.seconds,
                    attempts=outcome.attempts,
                    backend=outcome.running.backend_name,
                    extra={
                        # what runs (image tag, binary, server), else what was asked for
                        "version": str(
                            outcome.running.endpoint.extra.get("version")
                            or getattr(spec, "version", "")
                            or ""
                        ),
                        # False under pytest-xdist when another worker started it.
                        "started_here": outcome.running.started_here,
                    },
                )

    def _start_one(self, spec: ServiceSpec, outcome: _Outcome) -> None:
        attempts = self.settings.start_attempts
        for attempt in range(1, attempts + 1):
            if self._cancel.is_set():
                outcome.error = ServiceError(
                    ErrorCode.SVC_START_FAILED, service=spec.key, cause="the session was stopped"
                )
                return
            outcome.attempts = attempt
            started = time.monotonic()
            try:
                outcome.running = self.backend.start(spec, timeout=self.settings.start_timeout)
                outcome.seconds = time.monotonic() - started
                outcome.error = None
                if self._cancel.is_set():  # stopped while we were starting: do not leak
                    outcome.running.stop()
                    outcome.running = None
                return
            except BaseException as exc:
                outcome.error = exc
                if not is_retryable(exc) or attempt == attempts:
                    return

    def _fail(
        self,
        failed: Sequence[ServiceSpec],
        pending: Sequence[ServiceSpec],
        outcomes: dict[str, _Outcome],
    ) -> None:
        # Stop the rest of the batch: a half-provided environment helps no test.
        for spec in pending:
            ident = identity(spec)
            if ident in self._running:
                with contextlib.suppress(Exception):
                    self._running.pop(ident).stop()
                self._order.remove(ident)
                self.records.pop(spec.key, None)
        first = failed[0]
        outcome = outcomes[identity(first)]
        cause = outcome.error
        assert cause is not None
        error = start_failed(first, cause, attempts=outcome.attempts, others=[s.key for s in failed[1:]])
        for spec in failed:
            self._failed[identity(spec)] = error
        raise error from cause

    def _start_process(
        self, spec: ProcessService, overrides: Mapping[str, Endpoint], topics: Mapping[str, str]
    ) -> None:
        with self._lock:
            ident = identity(spec)
            if ident in self._failed:
                raise self._failed[ident]
            if ident in self._running:
                return
            deps = spec.dependencies()
            endpoints = {dep.key: self._running[identity(dep)].endpoint for dep in deps}
            endpoints.update({key: value for key, value in overrides.items() if key in endpoints})
            started = time.monotonic()
            try:
                running = start_process(
                    spec, endpoints=endpoints, timeout=self.settings.start_timeout, topics=topics
                )
            except IntegrationKitError as exc:
                error = start_failed(spec, exc, attempts=1, others=[])
                self._failed[ident] = error
                raise error from exc
            self._running[ident] = cast(RunningService, running)
            self._order.append(ident)
            self.records[spec.key] = StartRecord(
                key=spec.key, seconds=time.monotonic() - started, attempts=1, backend="process"
            )
