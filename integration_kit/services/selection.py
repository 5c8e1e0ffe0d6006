"""Which backend runs a service: ``docker``, ``local``, ``external`` or ``auto``.

``auto`` (the default) picks, for each service, the first that fits:

1. ``external`` where a URL is set for it (``INTEGRATION_KIT_POSTGRES_URL``...),
2. ``docker`` where a Docker engine answers,
3. ``local`` where the binaries are installed,

else raises ``IK-SVC-NO-BACKEND`` listing what was tried, what was found and how to fix
it. Backends come from the one registry (:mod:`integration_kit.services.backends`),
imported only when chosen (docker pulls in testcontainers).

``select_backend(settings)`` without a spec under ``auto`` returns an :class:`AutoBackend`
that makes that choice per service on first use (what :class:`ServiceSession` needs).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.backends import REGISTRY, create_backend, handle_alive, stop_handle
from integration_kit.services.base import Backend, BackendService, Handle, ServiceSpec
from integration_kit.services.ownership import Owner

BACKEND_NAMES = tuple(REGISTRY)
AUTO_ORDER = ("external", "docker", "local")


def get_backend(name: str, settings: Settings, *, owner: Owner | None = None) -> Backend:
    """The backend called ``name`` (not ``auto``); ``IK-SVC-UNKNOWN-BACKEND`` otherwise."""
    return create_backend(name, settings, owner=owner)


def select_backend(
    settings: Settings, spec: ServiceSpec | None = None, *, owner: Owner | None = None
) -> Backend:
    """The backend that runs ``spec``; without a spec, the backend for a whole session.

    ``settings.backend`` names one explicitly, or is ``auto`` (see the module docstring):
    then with a spec the first fitting backend is returned (``IK-SVC-NO-BACKEND`` if none
    fits), and without one an :class:`AutoBackend` choosing per service. ``owner`` owns
    what the backend starts (default: this process).
    """
    owner = owner or Owner.for_session()
    if settings.backend != "auto":
        return get_backend(settings.backend, settings, owner=owner)
    if spec is None:
        return AutoBackend(settings, owner=owner)
    return choose(settings, spec, owner=owner)


def choose(settings: Settings, spec: ServiceSpec, *, owner: Owner) -> Backend:
    """The first backend in :data:`AUTO_ORDER` that can run ``spec``."""
    tried: list[str] = []
    for name in AUTO_ORDER:
        try:
            backend = get_backend(name, settings, owner=owner)
        except ImportError as exc:
            tried.append(f"{name}: not importable ({exc})")
            continue
        ok, why = backend.can_run(spec)
        if ok:
            return backend
        tried.append(f"{name}: {why}")
    raise ServiceError(
        ErrorCode.SVC_NO_BACKEND,
        service=spec.key,
        tried=" | ".join(tried),
        hint=(
            "Set a URL (INTEGRATION_KIT_POSTGRES_URL, INTEGRATION_KIT_REDIS_URL, "
            "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS) for the external backend, start a Docker "
            "engine (or set DOCKER_HOST), or install the binaries for the local backend "
            "(postgresql, redis-server, java + INTEGRATION_KIT_KAFKA_HOME); see docs/backends.md."
        ),
    )


def describe_backends(settings: Settings) -> dict[str, dict[str, Any]]:
    """What each backend would do here: ``{name: {"available": bool, "detail": str}}``."""
    report: dict[str, dict[str, Any]] = {}
    for name in BACKEND_NAMES:
        try:
            ok, why = get_backend(name, settings).available()
        except ImportError as exc:
            ok, why = False, f"not importable ({exc})"
        report[name] = {"available": ok, "detail": why}
    return report


class AutoBackend:
    """``auto`` for a whole session: picks the backend per service kind on first use.

    Every backend it creates gets its owner; services name the backend that runs them, so
    handles go to the right one through the registry.
    """

    name = "auto"

    def __init__(self, settings: Settings, *, owner: Owner | None = None) -> None:
        self.settings = settings
        self.owner = owner or Owner.for_session()
        self._lock = threading.Lock()
        self._by_kind: dict[str, Backend] = {}
        self._by_name: dict[str, Backend] = {}

    def backend_for(self, spec: ServiceSpec) -> Backend:
        """The backend chosen for ``spec``'s kind (same kind, same backend)."""
        with self._lock:
            chosen = self._by_kind.get(spec.kind)
            if chosen is None:
                chosen = choose(self.settings, spec, owner=self.owner)
                chosen = self._by_name.setdefault(chosen.name, chosen)
                self._by_kind[spec.kind] = chosen
            return chosen

    def available(self) -> tuple[bool, str]:
        report = describe_backends(self.settings)
        ok = any(entry["available"] for entry in report.values())
        return ok, "; ".join(f"{name}: {entry['detail']}" for name, entry in report.items())

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        try:
            chosen = self.backend_for(spec)
        except ServiceError as exc:
            return False, exc.message
        return True, f"{chosen.name}"

    def start(self, spec: ServiceSpec, *, timeout: float) -> BackendService:
        return self.backend_for(spec).start(spec, timeout=timeout)

    def stop_handle(self, handle: Handle) -> None:
        stop_handle(handle, self.settings)

    def handle_alive(self, handle: Handle) -> bool:
        return handle_alive(handle, self.settings)

    def reap(self) -> int:
        """Reap what the local backend (files) and, if it answers, docker left behind."""
        removed = get_backend("local", self.settings, owner=self.owner).reap()
        try:
            docker = get_backend("docker", self.settings, owner=self.owner)
        except ImportError:
            return removed
        if docker.available()[0]:
            removed += docker.reap()
        return removed

    def close(self) -> None:
        for backend in list(self._by_name.values()):
            with contextlib.suppress(Exception):
                backend.close()
