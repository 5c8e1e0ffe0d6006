"""The ``external`` backend (see :mod:`.backend`): URLs, driver checks, version checks."""

from integration_kit.services.backends.external.backend import ExternalBackend, ExternalService
from integration_kit.services.backends.external.checks import check_reachable
from integration_kit.services.backends.external.urls import parse_url

__all__ = ["ExternalBackend", "ExternalService", "check_reachable", "parse_url"]
