"""Service URLs of the external backend: parsed into endpoints, ``IK-EXTERNAL-INVALID-URL`` if malformed."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.redaction import redact_url
from integration_kit.services.base import Endpoint

#: The setting that names each kind's external service, and its environment variable.
SETTING_FOR = {
    "postgres": "postgres_url",
    "redis": "redis_url",
    "kafka": "kafka_bootstrap_servers",
}

EXAMPLES = {
    "postgres": "postgresql://user:password@host:5432/database",
    "redis": "redis://[:password@]host:6379/0",
    "kafka": "host:9092[,host2:9092]",
}


def _invalid(kind: str, url: str, cause: str) -> ServiceError:
    return ServiceError(
        ErrorCode.EXTERNAL_INVALID_URL, url=redact_url(url), service=kind, cause=cause, example=EXAMPLES[kind]
    )


#: Said instead of echoing a URL's parts when it holds credentials: a reserved character in
#: a password shifts where the parser sees the host and port, so those parts may be secret.
_ENCODE = "if the password holds / ? # @ or :, percent-encode it (%2F %3F %23 %40 %3A)"


def _port(kind: str, url: str, raw: str | int | None, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        port = int(raw)
    except ValueError:
        cause = f"port {raw!r} is not a number" if "@" not in url else f"the port is not a number; {_ENCODE}"
        raise _invalid(kind, url, cause) from None
    if not 0 < port < 65536:
        raise _invalid(kind, url, f"port {port} is out of range 1..65535")
    return port


def parse_url(kind: str, url: str) -> Endpoint:
    """The :class:`Endpoint` a service URL names; ``IK-EXTERNAL-INVALID-URL`` if malformed."""
    if kind == "kafka":
        return _parse_kafka(url)
    parts = urlsplit(url.strip())
    schemes = {"postgres": ("postgresql", "postgres"), "redis": ("redis", "rediss")}[kind]
    if parts.scheme not in schemes:
        raise _invalid(kind, url, f"scheme {parts.scheme or '(none)'!r} is not one of {', '.join(schemes)}")
    if "@" in parts.path + parts.query + parts.fragment:
        raise _invalid(kind, url, f"an '@' after the host: {_ENCODE}")
    try:
        raw_port = parts.port
    except ValueError as exc:
        cause = f"bad port: {exc}" if "@" not in url else f"bad port; {_ENCODE}"
        raise _invalid(kind, url, cause) from None if "@" in url else exc
    if not parts.hostname:
        raise _invalid(kind, url, "no host" if "@" not in url else f"no host; {_ENCODE}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    path = parts.path.lstrip("/")
    if kind == "postgres":
        port = _port(kind, url, raw_port, 5432)
        return Endpoint(
            host=parts.hostname,
            port=port,
            user=user,
            password=password,
            database=unquote(path) or "postgres",
            extra={"url": url},
        )
    if path and not path.isdigit():
        shown = f"database {path!r}" if "@" not in url else "the database"
        raise _invalid(kind, url, f"{shown} is not an index" + ("" if "@" not in url else f"; {_ENCODE}"))
    return Endpoint(
        host=parts.hostname,
        port=_port(kind, url, raw_port, 6379),
        user=user,
        password=password,
        database=path or "0",
        extra={"url": url, "ssl": parts.scheme == "rediss"},
    )


def _parse_kafka(url: str) -> Endpoint:
    servers = []
    for item in url.split(","):
        item = item.strip()
        for prefix in ("PLAINTEXT://", "kafka://"):
            if item.startswith(prefix):
                item = item[len(prefix) :]
        if not item:
            continue
        if "@" in item:
            raise _invalid("kafka", url, "bootstrap servers carry no credentials (the kit speaks PLAINTEXT)")
        host, sep, raw_port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host:
            raise _invalid("kafka", url, f"{item!r} is not host:port")
        servers.append((host, _port("kafka", url, raw_port, 9092) if raw_port else None))
    if not servers:
        raise _invalid("kafka", url, "no servers")
    for host, port in servers:
        if port is None:
            raise _invalid("kafka", url, f"{host!r} has no port")
    listed = ",".join(f"{h}:{p}" for h, p in servers)
    host, port = servers[0]
    assert port is not None
    return Endpoint(host=host, port=port, extra={"bootstrap_servers": listed})
