"""The ``external`` backend: services that already run somewhere, given by URL.

URLs come from the settings (``postgres_url``, ``redis_url``, ``kafka_bootstrap_servers``;
env ``INTEGRATION_KIT_POSTGRES_URL``... or ``[tool.integration_kit]`` in pyproject).
The kit never stops these services; it only creates and drops what lives in its own
namespace there. ``start`` parses the URL (``IK-EXTERNAL-INVALID-URL``), proves the
service answers through its driver within the deadline (``IK-EXTERNAL-UNREACHABLE``
otherwise, with the driver's last error), and checks the server's version against the
spec's (``IK-SVC-VERSION-MISMATCH`` naming both; Kafka brokers do not report theirs).
"""

from __future__ import annotations

from dataclasses import dataclass

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.health import redact_url
from integration_kit.services.backends.external.checks import check_reachable
from integration_kit.services.backends.external.urls import parse_url
from integration_kit.services.base import Endpoint, Handle, ServiceSpec, with_version
from integration_kit.services.ownership import Owner
from integration_kit.services.versions import major, version_matches

SETTING_FOR = {
    "postgres": "postgres_url",
    "redis": "redis_url",
    "kafka": "kafka_bootstrap_servers",
}


@dataclass(eq=False)
class ExternalService:
    """A service the kit did not start and never stops."""

    spec: ServiceSpec
    endpoint: Endpoint
    url: str
    version: str | None = None
    backend_name: str = "external"
    started_here: bool = True

    def log_tail(self, lines: int = 40) -> str:
        return f"(external service at {redact_url(self.url)}: its log is not available to the kit)"

    def stop(self) -> None:
        """Nothing to do: external services are never stopped by the kit."""

    def detach(self) -> Handle:
        return {"backend": "external"}


class ExternalBackend:
    """Uses already-running services named by URLs in the settings."""

    name = "external"

    def __init__(self, settings: Settings | None = None, *, owner: Owner | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.owner = owner if owner is not None else Owner.for_session()

    def url_for(self, kind: str) -> str | None:
        urls = {
            "postgres": self.settings.postgres_url,
            "redis": self.settings.redis_url,
            "kafka": self.settings.kafka_bootstrap_servers,
        }
        return urls.get(kind)

    def _can_run_kind(self, kind: str) -> tuple[bool, str]:
        url = self.url_for(kind)
        setting = SETTING_FOR.get(kind, kind)
        if url is None:
            return False, f"INTEGRATION_KIT_{setting.upper()} is not set"
        return True, f"{setting}={redact_url(url)}"

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        if spec.kind not in SETTING_FOR:
            return False, f"the external backend has no URL setting for {spec.kind!r} services"
        return self._can_run_kind(spec.kind)

    def available(self) -> tuple[bool, str]:
        found = [self._can_run_kind(kind) for kind in SETTING_FOR]
        return any(ok for ok, _ in found), "; ".join(why for _, why in found)

    def endpoint(self, spec: ServiceSpec) -> Endpoint:
        if spec.kind not in SETTING_FOR:
            raise ServiceError(
                ErrorCode.SVC_UNKNOWN_KIND,
                backend=self.name,
                kind=spec.kind,
                service=spec.key,
                known=", ".join(SETTING_FOR),
                hint="Give the app the dependency's URL directly, or run it on the docker backend.",
            )
        url = self.url_for(spec.kind)
        if url is None:
            setting = SETTING_FOR.get(spec.kind, spec.kind)
            raise ServiceError(
                ErrorCode.SVC_NO_BACKEND,
                service=spec.key,
                tried=f"external (INTEGRATION_KIT_{setting.upper()} is not set)",
            )
        return parse_url(spec.kind, url)

    def start(self, spec: ServiceSpec, *, timeout: float) -> ExternalService:
        """Check that the service at the configured URL answers within ``timeout`` and
        runs the spec's version."""
        endpoint = self.endpoint(spec)
        url = str(self.url_for(spec.kind))
        actual = check_reachable(spec.kind, endpoint, timeout=timeout, url=url)
        wanted = getattr(spec, "version", None)
        if wanted and actual is not None and not version_matches(str(wanted), actual):
            raise ServiceError(
                ErrorCode.SVC_VERSION_MISMATCH,
                service=spec.key,
                url=redact_url(url),
                kind=spec.kind,
                actual=actual,
                actual_major=major(actual),
                version=wanted,
            )
        return ExternalService(spec=spec, endpoint=with_version(endpoint, actual), url=url, version=actual)

    def stop_handle(self, handle: Handle) -> None:
        """Nothing to stop (see :meth:`ExternalService.stop`)."""

    def handle_alive(self, handle: Handle) -> bool:
        return True

    def reap(self) -> int:
        return 0

    def close(self) -> None:
        """Nothing to close: the kit holds no resources of external services."""
