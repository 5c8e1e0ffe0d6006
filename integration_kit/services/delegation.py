"""Backends that hand a spec on to another backend, and the services they return.

Two backends wrap the configured one: :class:`~integration_kit.services.coordination.SharedBackend`
(one set of services for a pytest-xdist run) and
:class:`~integration_kit.services.warm.backend.WarmBackend` (services kept warm across runs).
Both pass the capability questions and handle operations on unchanged
(:class:`DelegatingBackend`), and both return a :class:`DelegatedService`: a service this
process may or may not have started, that someone else stops (the run's last process out,
the warm set's watchdog), and whose death the session still sees
(:meth:`DelegatedService.exit_status`: through the service itself where this process
started it, else through its handle).
"""

from __future__ import annotations

from collections.abc import Callable

from integration_kit.config import Settings
from integration_kit.services import backends
from integration_kit.services.base import (
    Backend,
    BackendService,
    Endpoint,
    Handle,
    ServiceExit,
    ServiceSpec,
    WatchedService,
)


class DelegatedService:
    """A service as one process sees it: its endpoint and how it ended; another party stops it."""

    #: What :meth:`log_tail` says when another process started the service.
    ELSEWHERE = "(started by another process)"

    def __init__(
        self,
        spec: ServiceSpec,
        endpoint: Endpoint,
        started: BackendService | None,
        *,
        backend_name: str,
        watch: Callable[[], ServiceExit | None] | None = None,
    ) -> None:
        self.spec = spec
        self.endpoint = endpoint
        self.backend_name = backend_name
        self._started = started
        #: How it ended (None while it runs): the service's own check where this process
        #: started it, else ``watch`` (built from its handle), else never known.
        self.watch: Callable[[], ServiceExit | None] = (
            started.exit_status if isinstance(started, WatchedService) else watch or (lambda: None)
        )

    def exit_status(self) -> ServiceExit | None:
        return self.watch()

    @property
    def started_here(self) -> bool:
        """Whether this process started it."""
        return self._started is not None

    def log_tail(self, lines: int = 40) -> str:
        if self._started is not None:
            return self._started.log_tail(lines)
        return self.ELSEWHERE

    def stop(self) -> None:
        """Nothing here: whoever holds the service stops it."""

    def detach(self) -> Handle:
        """Already held elsewhere: nothing for this process to hand on."""
        return {"backend": "external"}


class DelegatingBackend:
    """The part of the :class:`~integration_kit.services.base.Backend` protocol a wrapping
    backend passes on: subclasses give :meth:`delegate` (the wrapped backend) and
    ``settings``, and implement ``start``, ``reap`` and ``close`` themselves."""

    settings: Settings

    def delegate(self) -> Backend:
        raise NotImplementedError

    def available(self) -> tuple[bool, str]:
        return self.delegate().available()

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        return self.delegate().can_run(spec)

    def stop_handle(self, handle: Handle) -> None:
        backends.stop_handle(handle, self.settings)

    def handle_alive(self, handle: Handle) -> bool:
        return backends.handle_alive(handle, self.settings)
