"""Which backend runs a service: ``docker``, ``local``, ``external`` or ``auto``.

``auto`` (the default) picks, for each service, the first that fits:

1. ``external`` where a URL is set for it (``INTEGRATION_KIT_POSTGRES_URL``...),
2. ``docker`` where a Docker engine answers,
3. ``local`` where the binaries are installed,

else raises ``IK-SVC-NO-BACKEND`` listing what was tried, what was found and how to fix
it. Backend modules are imported only when chosen (docker pulls in testcontainers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from integration_kit.config import BACKENDS, Settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.base import Backend, ServiceSpec

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
    """The backend that runs ``spec`` (or, without a spec, all of PostgreSQL, Redis, Kafka).

    ``settings.backend`` names one explicitly, or is ``auto`` (see the module docstring).
    """
    if settings.backend != "auto":
        return get_backend(settings.backend, settings)
    kinds = [spec.kind] if spec is not None else list(KINDS)
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
    service = spec.key if spec is not None else "/".join(KINDS)
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
