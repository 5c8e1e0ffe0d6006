"""Which backend runs a service: ``docker``, ``local``, ``external`` or ``auto``.

``auto`` (the default) picks, for each service, the first that fits:

1. ``external`` where a URL is set for it (``INTEGRATION_KIT_POSTGRES_URL``...),
2. ``docker`` where a Docker engine answers,
3. ``local`` where the binaries are installed,

else raises ``IK-SVC-NO-BACKEND`` listing what was tried, what was found and how to fix
it. Backend modules are imported only when chosen (docker pulls in testcontainers).

``select_backend(settings)`` without a spec under ``auto`` returns an :class:`AutoBackend`
that makes that choice per service on first use (what :class:`ServiceSession` needs).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from integration_kit.config import BACKENDS, Settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.base import Backend, RunningService, ServiceSpec

BACKEND_NAMES = tuple(name for name in BACKENDS if name != "auto")
AUTO_ORDER = ("external", "docker", "local")
KINDS = ("postgres", "redis", "kafka")


def _docker(settings: Settings) -> Backend:
    from integration_kit.services.backends.docker import DockerBackend

    return DockerBackend(settings)


def _local(settings: Settings) -> Backend:
    from integration_kit.services.backends.local import LocalBackend

    return LocalBackend(settings)


def _external(settings: Settings) -> Backend:
    from integration_kit.services.backends.external import ExternalBackend

    return ExternalBackend(settings)


FACTORIES: Mapping[str, Callable[[Settings], Backend]] = {
    "docker": _docker,
    "local": _local,
    "external": _external,
}


def get_backend(name: str, settings: Settings) -> Backend:
    """The backend called ``name`` (not ``auto``); ``IK-SVC-UNKNOWN-BACKEND`` otherwise."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ServiceError(ErrorCode.SVC_UNKNOWN_BACKEND, backend=name, known=", ".join(BACKENDS))
    return factory(settings)


def _fits(backend: Any, kinds: list[str]) -> tuple[bool, str]:
    can_run = getattr(backend, "can_run", None)
    if can_run is None:
        return backend.available()  # type: ignore[no-any-return]
    verdicts = [(kind, *can_run(kind)) for kind in kinds]
    ok = all(fit for _, fit, _ in verdicts)
    return ok, "; ".join(f"{kind}: {why}" for kind, _, why in verdicts)


def select_backend(settings: Settings, spec: ServiceSpec | None = None) -> Backend:
    """The backend that runs ``spec``; without a spec, the backend for a whole session.

    ``settings.backend`` names one explicitly, or is ``auto`` (see the module docstring):
    then with a spec the first fitting backend is returned (``IK-SVC-NO-BACKEND`` if none
    fits), and without one an :class:`AutoBackend` choosing per service.
    """
    if settings.backend != "auto":
        return get_backend(settings.backend, settings)
    if spec is None:
        return AutoBackend(settings)
    return choose(settings, [spec.kind], service=spec.key)


def choose(settings: Settings, kinds: list[str], *, service: str) -> Backend:
    """The first backend in :data:`AUTO_ORDER` that can run every kind in ``kinds``."""
    tried: list[str] = []
    for name in AUTO_ORDER:
        try:
            backend = get_backend(name, settings)
        except ImportError as exc:
            tried.append(f"{name}: not importable ({exc})")
            continue
        ok, why = _fits(backend, kinds)
        if ok:
            return backend
        tried.append(f"{name}: {why}")
    raise ServiceError(
        ErrorCode.SVC_NO_BACKEND,
        service=service,
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
    """``auto`` for a whole session: picks the backend per service kind on first use."""

    name = "auto"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._by_kind: dict[str, Backend] = {}
        self._by_name: dict[str, Backend] = {}
        self._run_id: str | None = None

    @property
    def run_id(self) -> str | None:
        return self._run_id

    @run_id.setter
    def run_id(self, value: str | None) -> None:
        self._run_id = value
        for backend in self._by_name.values():
            with contextlib.suppress(AttributeError, TypeError):
                backend.run_id = value  # type: ignore[attr-defined]

    def backend_for(self, spec: ServiceSpec) -> Backend:
        """The backend chosen for ``spec``'s kind (same kind, same backend)."""
        with self._lock:
            chosen = self._by_kind.get(spec.kind)
            if chosen is None:
                chosen = choose(self.settings, [spec.kind], service=spec.key)
                chosen = self._by_name.setdefault(chosen.name, chosen)
                if self._run_id is not None:
                    with contextlib.suppress(AttributeError, TypeError):
                        chosen.run_id = self._run_id  # type: ignore[attr-defined]
                self._by_kind[spec.kind] = chosen
            return chosen

    def available(self) -> tuple[bool, str]:
        report = describe_backends(self.settings)
        ok = any(entry["available"] for entry in report.values())
        return ok, "; ".join(f"{name}: {entry['detail']}" for name, entry in report.items())

    def start(self, spec: ServiceSpec, *, timeout: float) -> RunningService:
        return self.backend_for(spec).start(spec, timeout=timeout)

    def reap(self) -> int:
        """Reap what the local backend (files) and, if it answers, docker left behind."""
        removed = get_backend("local", self.settings).reap()
        try:
            docker = get_backend("docker", self.settings)
        except ImportError:
            return removed
        if docker.available()[0]:
            removed += docker.reap()
        return removed

    def close(self) -> None:
        for backend in list(self._by_name.values()):
            close = getattr(backend, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
