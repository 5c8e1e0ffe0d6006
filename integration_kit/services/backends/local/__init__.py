"""The ``local`` backend (see :mod:`.backend`): one module per service, plus binaries."""

from integration_kit.services.backends.local.backend import LocalBackend
from integration_kit.services.backends.local.server import LocalService, stop_handle

__all__ = ["LocalBackend", "LocalService", "stop_handle"]
