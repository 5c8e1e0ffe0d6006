"""``WarmBackend``: a backend whose services outlive the run, found again by the next one.

With reuse on, the session's backend is a :class:`WarmBackend` around the configured one.
``start(spec)`` looks the spec's fingerprint up in the project's warm set
(:mod:`~integration_kit.services.warm.store`): a service there that passes a wire probe
(PostgreSQL query, Redis ``PING``, Kafka metadata) is used as it is; one that does not
answer is logged (``IK-SVC-WARM-DEAD``), stopped and started again; a missing one is
started by the inner backend with the set's watchdog as its owner and detached into the
set. ``stop()`` of a warm service does nothing: the watchdog stops the set when idle,
``integration-kit services down`` at once. Each spec has its own lock, so services of
one batch still start in parallel; xdist workers and concurrent runs start each once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode
from integration_kit.services import backends, readiness
from integration_kit.services.base import (
    Backend,
    BackendService,
    Endpoint,
    Handle,
    ServiceExit,
    ServiceSpec,
)
from integration_kit.services.coordination import file_lock
from integration_kit.services.delegation import DelegatedService, DelegatingBackend
from integration_kit.services.ownership import Owner
from integration_kit.services.warm.project import project_id, project_root
from integration_kit.services.warm.store import WarmSet, reap_sets, spec_fingerprint

log = logging.getLogger("integration_kit.reuse")
PROBE_TIMEOUT_S = 1.0
#: How long the end of a run waits for its background reaper.
REAP_WAIT_S = 30.0


class WarmService(DelegatedService):
    """A service of the warm set as this run sees it: its endpoint; the set stops it.

    Watched for deaths like any service of the run (``IK-SVC-DIED``): through the service
    itself where this run started it, else through the handle the set recorded."""

    ELSEWHERE = "(a warm service started by an earlier run: see `integration-kit services status`)"

    def __init__(
        self,
        spec: ServiceSpec,
        endpoint: Endpoint,
        *,
        backend_name: str,
        started: BackendService | None,
        set_dir: Path,
        watch: Callable[[], ServiceExit | None] | None = None,
    ) -> None:
        super().__init__(spec, endpoint, started, backend_name=backend_name, watch=watch)
        #: The warm set's directory (what lives as long as the set keeps files there).
        self.set_dir = set_dir

    @property
    def reused(self) -> bool:
        return self._started is None


def probe(kind: str, endpoint: Endpoint) -> None:
    """One wire-level request to the service (raises ``OSError`` when it does not answer)."""
    if kind == "postgres":
        try:
            readiness.pg_query(
                endpoint.host,
                endpoint.port,
                user=endpoint.user or "postgres",
                database=endpoint.database or "postgres",
                timeout=PROBE_TIMEOUT_S,
            )
        except readiness.ProbeError as exc:
            if "password" not in str(exc):
                raise
    elif kind == "redis":
        readiness.redis_ping(endpoint.host, endpoint.port, timeout=PROBE_TIMEOUT_S)
    elif kind == "kafka":
        host, _, port = endpoint.bootstrap_servers.split(",")[0].rpartition(":")
        readiness.kafka_brokers(host or endpoint.host, int(port or endpoint.port), timeout=PROBE_TIMEOUT_S)


class WarmBackend(DelegatingBackend):
    """The session's backend with reuse on. See the module docstring."""

    def __init__(self, settings: Settings, *, root: Path | None = None) -> None:
        self.settings = settings
        self.name = settings.backend
        self.root = root or project_root()
        self.warm = WarmSet(settings, project=project_id(self.root), backend=settings.backend)
        self._inner: Backend | None = None
        self._lock = threading.Lock()
        self._joined = False
        self._reaper: threading.Thread | None = None
        #: Lines for the run summary: services replaced because they had died, reuse counts.
        self.notes: list[str] = []
        self.reused: list[str] = []

    @property
    def owner(self) -> Owner:
        return self.warm.owner()

    @owner.setter
    def owner(self, value: Owner) -> None:
        raise AttributeError("a warm set's owner is its watchdog")

    def inner(self) -> Backend:
        """The configured backend, owning what it starts as the set's watchdog."""
        with self._lock:
            if self._inner is None:
                self._ensure_set()
                from integration_kit.services.selection import select_backend

                run_id = f"warm-{self.warm.name}-{uuid.uuid4().hex[:6]}"
                self._inner = select_backend(self.settings, owner=self.warm.owner(run_id=run_id))
            return self._inner

    def _ensure_set(self) -> None:
        with self.warm.locked():
            if not self.warm.watchdog_alive():
                if self.warm.dir.exists():
                    self._note(
                        f"warm set {self.warm.name}: its watchdog is gone; stopping it and starting anew"
                    )
                    self.warm.stop("its watchdog is gone")
                self.warm.create(root=self.root, idle_timeout=self.settings.reuse_idle_timeout)
            if not self._joined:
                self.warm.join(os.getpid())
                self._joined = True
        self._clean_old_kept()

    def _clean_old_kept(self) -> None:
        """Remove what ``--ik-keep-failed`` kept more than a day ago."""
        from integration_kit.services.warm.kept import MAX_AGE_S, clean_kept

        try:
            for line in clean_kept(self.settings, older_than=MAX_AGE_S):
                log.info("integration-kit: removed %s (kept by --ik-keep-failed over a day ago)", line)
        except Exception:  # never fail a run over an old leftover; `services clean` reports
            log.warning("integration-kit: removing old kept data failed", exc_info=True)

    def _note(self, line: str) -> None:
        log.warning("[%s] integration-kit: %s", ErrorCode.SVC_WARM_DEAD.value, line)
        self.notes.append(line)

    def _spec_lock(self, fingerprint: str) -> contextlib.AbstractContextManager[None]:
        return file_lock(self.warm.dir.parent / f"{self.warm.name}.{fingerprint}.lock")

    # --- the Backend protocol -------------------------------------------------------------

    def delegate(self) -> Backend:
        return self.inner()

    def start(self, spec: ServiceSpec, *, timeout: float) -> WarmService:
        inner = self.inner()
        fingerprint = spec_fingerprint(spec, self.warm.backend, self.settings)
        with self._spec_lock(fingerprint):
            record = self.warm.services().get(fingerprint)
            if record is not None:
                endpoint = Endpoint(
                    **{**record["endpoint"], "extra": dict(record["endpoint"].get("extra") or {})}
                )
                problem = self._problem(spec.kind, endpoint, record["handle"])
                if problem is None:
                    self.reused.append(spec.key)
                    return WarmService(
                        spec,
                        endpoint,
                        backend_name=str(record["handle"].get("backend")),
                        started=None,
                        set_dir=self.warm.dir,
                        watch=backends.exit_watch(record["handle"], self.settings),
                    )
                self._note(
                    f"warm {spec.key} at {endpoint.address} ({record['handle'].get('backend')}) does not "
                    f"answer ({problem}): starting a new one"
                )
                with contextlib.suppress(Exception):
                    backends.stop_handle(record["handle"], self.settings)
                self.warm.forget(fingerprint)
            running = inner.start(spec, timeout=timeout)
            handle = running.detach()
            self.warm.record(fingerprint, spec, running.endpoint, handle)
            return WarmService(
                spec,
                running.endpoint,
                backend_name=running.backend_name,
                started=running,
                set_dir=self.warm.dir,
            )

    def _problem(self, kind: str, endpoint: Endpoint, handle: Handle) -> str | None:
        try:
            if not backends.handle_alive(handle, self.settings):
                return "its server process is gone"
            probe(kind, endpoint)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    def reap(self) -> int:
        """Stop warm sets whose watchdog is gone (now: the run may need their place), and
        reap the inner backend's leftovers of dead runs in the background (a warm run need
        not wait for a container listing; :meth:`close` waits for it)."""
        reaped = reap_sets(self.settings)
        for name in reaped:
            self._note(f"warm set {name}: its watchdog is gone; stopped its services")
        inner = self.inner()
        self._reaper = threading.Thread(
            target=self._reap_quietly, args=(inner,), name="ik-warm-reap", daemon=True
        )
        self._reaper.start()
        return len(reaped)

    @staticmethod
    def _reap_quietly(inner: Backend) -> None:
        try:
            inner.reap()
        except Exception:  # the next run reaps again
            log.warning("integration-kit: reaping leftovers of dead runs failed", exc_info=True)

    def close(self) -> None:
        """Leave the set (it stays up for the next run); the inner backend removes what it
        was still creating (its own run id: never another process's warm services)."""
        if self._reaper is not None:
            self._reaper.join(REAP_WAIT_S)
        if self._inner is not None:
            with contextlib.suppress(Exception):
                self._inner.close()
        if self._joined:
            with self.warm.locked():
                self.warm.leave(os.getpid())
            self._joined = False


def status_lines(sets: list[dict[str, Any]]) -> list[str]:
    """``services status`` as text."""
    import time

    if not sets:
        return ["no warm services"]
    lines = []
    for item in sets:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["since"] or 0))
        state = "" if item["watchdog_alive"] else " (watchdog gone: reaped by the next run)"
        lines.append(
            f"{item['name']}: project {item['root']}, backend {item['backend']}, since {since}, "
            f"idle {item['idle_s']:.0f} s of {item['idle_timeout']:g} s, "
            f"users {item['users'] or 'none'}{state}"
        )
        for service in item["services"]:
            lines.append(f"  {service['key']:<10} {service['kind']:<9} {service['endpoint']}")
    return lines
