"""The backends, by name: the one registry that selection and coordination use.

Each backend is a package here (``docker``, ``local``, ``external``), imported only when
it is first needed (docker pulls in testcontainers). :func:`create_backend` builds one
with its :class:`~integration_kit.services.ownership.Owner`; :func:`stop_handle` stops a
service from the handle another process recorded, by the backend the handle names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from integration_kit.errors import ErrorCode, ServiceError

if TYPE_CHECKING:
    from integration_kit.config import Settings
    from integration_kit.services.base import Backend, Handle, ServiceExit
    from integration_kit.services.ownership import Owner

#: Backend name -> "module:class".
REGISTRY: Mapping[str, str] = {
    "docker": "integration_kit.services.backends.docker:DockerBackend",
    "local": "integration_kit.services.backends.local:LocalBackend",
    "external": "integration_kit.services.backends.external:ExternalBackend",
}


def backend_class(name: str) -> Any:
    """The class of backend ``name`` (imported now); ``IK-SVC-UNKNOWN-BACKEND`` otherwise."""
    target = REGISTRY.get(name)
    if target is None:
        raise ServiceError(ErrorCode.SVC_UNKNOWN_BACKEND, backend=name, known=", ".join(["auto", *REGISTRY]))
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def create_backend(name: str, settings: Settings, *, owner: Owner | None = None) -> Backend:
    """Backend ``name`` for ``settings``, owning what it starts as ``owner`` (default:
    this process, a fresh run id)."""
    from integration_kit.services.ownership import Owner

    backend: Backend = backend_class(name)(settings, owner=owner or Owner.for_session())
    return backend


def stop_handle(handle: Handle, settings: Settings) -> None:
    """Stop the service ``handle`` names, through the backend the handle names."""
    create_backend(str(handle.get("backend")), settings).stop_handle(handle)


def handle_alive(handle: Handle, settings: Settings) -> bool:
    """Whether the service ``handle`` names still runs (see ``Backend.handle_alive``)."""
    return create_backend(str(handle.get("backend")), settings).handle_alive(handle)


def exit_watch(handle: Handle, settings: Settings) -> Callable[[], ServiceExit | None]:
    """A cheap check of how the service ``handle`` names ended (``None`` while it runs, or
    where its backend cannot tell: external services are not the kit's to watch), built
    once (the backend and its engine client are kept)."""
    backend = create_backend(str(handle.get("backend")), settings)
    watch = getattr(backend, "handle_exit", None)
    return (lambda: watch(handle)) if watch is not None else (lambda: None)
