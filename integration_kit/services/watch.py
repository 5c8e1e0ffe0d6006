"""Services that die mid-run: noticed at the next test that needs them, named ``IK-SVC-DIED``.

A :class:`DeathWatch` asks each running service it is shown how it ended
(:class:`~integration_kit.services.base.WatchedService`: the local server's process, the
container's state: microseconds for a local server, about 2 ms for a container) and
remembers a death, so every later check involving that service fails at once with the
same error: the service, its backend, how it ended, its exit code and its log tail.
Services that cannot tell (external ones, the user's processes) are not watched.

The pytest plugin checks the services a test needs before its setup, and again when a
test fails (its own connection refused by a dead server gets the same code in its report).
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterable

from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.base import BackendService, RunningService, ServiceExit, WatchedService

#: How long a connection failure waits for a death to show, and how often it looks.
CONNECTION_GRACE_S = 1.0
GRACE_POLL_S = 0.02
_CONNECTION_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}


def connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) looks like a lost connection: refused, reset,
    closed, or a driver's connection error (redis-py, asyncpg, aiokafka name them so)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | EOFError):
            return True
        if isinstance(current, OSError) and current.errno in _CONNECTION_ERRNOS:
            return True
        if "Connection" in type(current).__name__:
            return True
        current = current.__cause__ or current.__context__
    return False


def died(service: RunningService, ended: ServiceExit) -> ServiceError:
    """The ``IK-SVC-DIED`` error for ``service``, which ended as ``ended`` says."""
    backend = service.backend_name if isinstance(service, BackendService) else "?"
    return ServiceError(
        ErrorCode.SVC_DIED,
        service=service.spec.key,
        backend=backend,
        how=ended.how,
        exit_code=ended.exit_code if ended.exit_code is not None else "unknown",
        log_tail=ended.log_tail or "(the log is empty)",
    )


class DeathWatch:
    """Remembers which services died. See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[str, ServiceExit] = {}

    def check(self, services: Iterable[RunningService], *, grace: float = 0.0) -> None:
        """Raise ``IK-SVC-DIED`` for the first of ``services`` that died (now or before).

        ``grace``: keep looking that long (a connection was just refused: a server killed a
        moment ago has closed its sockets but may not have been seen to exit yet).
        """
        __tracebackhide__ = True  # pytest: the report shows the error, not this frame
        services = list(services)
        deadline = time.monotonic() + grace
        while True:
            for service in services:
                ended = self._ended.get(service.spec.key) or self._ended_now(service)
                if ended is not None:
                    raise died(service, ended)  # a fresh error each time: each test its own
            if time.monotonic() >= deadline:
                return
            time.sleep(GRACE_POLL_S)

    def deaths(self) -> dict[str, ServiceExit]:
        """How the services seen dead so far ended, by service key."""
        with self._lock:
            return dict(self._ended)

    def _ended_now(self, service: RunningService) -> ServiceExit | None:
        if not isinstance(service, WatchedService):
            return None
        ended = service.exit_status()
        if ended is None:
            return None
        with self._lock:
            return self._ended.setdefault(service.spec.key, ended)
