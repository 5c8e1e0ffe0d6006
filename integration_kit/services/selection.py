"""Backend selection: ``select_backend(settings) -> Backend``.

Interim version (services branch): ``docker``, ``external`` (URLs from the settings) and
``auto`` = external for each service whose URL is set, else docker. The ``local``
backend and xdist coordination replace this module with the full selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.base import Backend, Endpoint, RunningService, ServiceSpec

_URL_SETTING = {
    "postgres": "postgres_url",
    "redis": "redis_url",
    "kafka": "kafka_bootstrap_servers",
}


def endpoint_from_url(kind: str, raw: str) -> Endpoint:
    """An :class:`Endpoint` from a configured URL or bootstrap server list."""
    try:
        if kind == "kafka":
            first = raw.split(",")[0].strip()
            host, _, port = first.rpartition(":")
            return Endpoint(host=host, port=int(port), extra={"bootstrap_servers": raw})
        parts = urlsplit(raw)
        default_port = 5432 if kind == "postgres" else 6379
        return Endpoint(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            user=parts.username,
            password=parts.password,
            database=parts.path.lstrip("/") or None,
        )
    except ValueError as exc:
        raise ServiceError(
            ErrorCode.EXTERNAL_INVALID_URL, url=raw, service=kind, cause=exc, example="scheme://host:port"
        ) from exc


@dataclass
class _External:
    spec: ServiceSpec
    endpoint: Endpoint
    backend_name: str = "external"

    def log_tail(self, lines: int = 40) -> str:
        return "(external service: no log)"

    def stop(self) -> None:
        """Never stops an external service."""


class UrlBackend:
    """Services that already run, at the URLs in the settings. Never started or stopped."""

    name = "external"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def url(self, kind: str) -> str | None:
        setting = _URL_SETTING.get(kind)
        return None if setting is None else getattr(self.settings, setting)

    def available(self) -> tuple[bool, str]:
        urls = [kind for kind in _URL_SETTING if self.url(kind) is not None]
        return bool(urls), f"URLs set for: {', '.join(urls) or 'none'}"

    def start(self, spec: ServiceSpec, *, timeout: float) -> RunningService:
        raw = self.url(spec.kind)
        if raw is None:
            raise ServiceError(
                ErrorCode.SVC_NO_BACKEND,
                service=spec.key,
                tried=f"external (INTEGRATION_KIT_{_URL_SETTING.get(spec.kind, spec.kind).upper()} unset)",
            )
        return _External(spec=spec, endpoint=endpoint_from_url(spec.kind, raw))

    def reap(self) -> int:
        return 0


class AutoBackend:
    """External where a URL is set, else docker."""

    name = "auto"

    def __init__(self, settings: Settings, docker: Backend | None = None) -> None:
        self.settings = settings
        self.external = UrlBackend(settings)
        self._docker = docker

    @property
    def docker(self) -> Backend:
        if self._docker is None:
            from integration_kit.services.backends.docker import DockerBackend

            self._docker = DockerBackend(self.settings)
        return self._docker

    def available(self) -> tuple[bool, str]:
        ok, why = self.docker.available()
        ext_ok, ext_why = self.external.available()
        return ok or ext_ok, f"docker: {why}; external: {ext_why}"

    def start(self, spec: ServiceSpec, *, timeout: float) -> RunningService:
        if self.external.url(spec.kind) is not None:
            return self.external.start(spec, timeout=timeout)
        ok, why = self.docker.available()
        if not ok:
            setting = _URL_SETTING.get(spec.kind, spec.kind).upper()
            raise ServiceError(
                ErrorCode.SVC_NO_BACKEND,
                service=spec.key,
                tried=f"external (INTEGRATION_KIT_{setting} unset), docker ({why})",
            )
        return self.docker.start(spec, timeout=timeout)

    def reap(self) -> int:
        ok, _ = self.docker.available()
        return self.docker.reap() if ok else 0

    def close(self) -> None:
        close = getattr(self._docker, "close", None)
        if callable(close):
            close()


def select_backend(settings: Settings) -> Backend:
    """The backend named by ``settings.backend``."""
    if settings.backend == "docker":
        from integration_kit.services.backends.docker import DockerBackend

        return DockerBackend(settings)
    if settings.backend == "external":
        return UrlBackend(settings)
    if settings.backend == "auto":
        return AutoBackend(settings)
    raise ServiceError(
        ErrorCode.SVC_UNKNOWN_BACKEND,
        backend=settings.backend,
        known="auto, docker, external (local: not in this build yet)",
    )
