"""Readiness of a freshly started PostgreSQL, Redis or Kafka: the one module every backend uses.

Two levels, both here:

* wire probes (:func:`pg_query`, :func:`redis_ping`, :func:`kafka_brokers`,
  :func:`identify_protocol` to tell which of them a port speaks): tiny
  synchronous protocol requests, without an event loop or a driver import, that prove a
  server answers requests (not merely accepts connections). Cheap enough to poll every
  few milliseconds while a local server comes up. Each raises ``OSError`` (or
  :class:`ProbeError`) while the server is not ready.
* :func:`wait_ready`: the protocol checks of :mod:`integration_kit.health`
  (``SELECT 1``, ``PING``, Kafka metadata with a live broker plus a produce/consume round
  trip) for an :class:`~integration_kit.services.base.Endpoint`, polled with backoff
  until a deadline. Every backend calls it once the server's final "ready" state shows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from integration_kit.health import HealthCheck, KafkaCheck, PostgresCheck, RedisCheck, wait_healthy
from integration_kit.services.base import Endpoint
from integration_kit.waiting import Backoff

T = TypeVar("T")
PROBE_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.4, jitter=0.3)


class ProbeError(OSError):
    """The server answered, but not (yet) with what a ready server answers."""


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProbeError("connection closed by the server")
        chunks += chunk
    return bytes(chunks)


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_message(sock: socket.socket) -> tuple[bytes, bytes]:
    header = _recv_exact(sock, 5)
    kind, length = header[:1], struct.unpack("!I", header[1:])[0]
    return kind, _recv_exact(sock, length - 4)


def _pg_error_text(body: bytes) -> str:
    fields = {}
    for part in body.split(b"\0"):
        if part:
            fields[part[:1]] = part[1:].decode(errors="replace")
    return f"{fields.get(b'C', '?')}: {fields.get(b'M', 'error')}"


def pg_query(
    host: str, port: int, *, user: str, database: str, sql: str = "SELECT 1", timeout: float = 1.0
) -> None:
    """Connect (trust auth), run ``sql`` as a simple query, raise unless it succeeds."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        params = f"user\0{user}\0database\0{database}\0\0".encode()
        sock.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
        while True:
            kind, body = _pg_message(sock)
            if kind == b"E":
                raise ProbeError(_pg_error_text(body))
            if kind == b"R" and struct.unpack("!I", body[:4])[0] != 0:
                raise ProbeError("server asks for a password; the probe supports trust auth only")
            if kind == b"Z":
                break
        query = sql.encode() + b"\0"
        sock.sendall(b"Q" + struct.pack("!I", 4 + len(query)) + query)
        error = None
        while True:
            kind, body = _pg_message(sock)
            if kind == b"E":
                error = _pg_error_text(body)
            if kind == b"Z":
                break
        sock.sendall(b"X" + struct.pack("!I", 4))
        if error is not None:
            raise ProbeError(error)


# --- Redis --------------------------------------------------------------------------------


def redis_ping(host: str, port: int, *, timeout: float = 1.0) -> None:
    """Send ``PING``; raise unless the answer is ``+PONG``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                raise ProbeError("connection closed by the server")
            reply += chunk
        if reply != b"+PONG\r\n":
            raise ProbeError(reply.decode(errors="replace").strip())


# --- Kafka --------------------------------------------------------------------------------

_METADATA = 3
_METADATA_VERSION = 4  # oldest version Kafka 4.x still serves; non-flexible encoding


def _kafka_string(data: bytes, offset: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from("!h", data, offset)
    offset += 2
    if length < 0:
        return None, offset
    return data[offset : offset + length].decode(), offset + length


def kafka_brokers(host: str, port: int, *, timeout: float = 1.0) -> list[tuple[int, str, int]]:
    """Send ``Metadata`` (no topics); return the live brokers as ``(node_id, host, port)``.

    Raises :class:`ProbeError` when the broker answers without any live broker (a KRaft
    broker is listed once it is registered and unfenced).
    """
    client_id = b"integration-kit-probe"
    header = struct.pack("!hhih", _METADATA, _METADATA_VERSION, 1, len(client_id)) + client_id
    body = struct.pack("!i?", 0, False)  # empty topic list, no auto creation
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!i", len(request)) + request)
        (size,) = struct.unpack("!i", _recv_exact(sock, 4))
        data = _recv_exact(sock, size)
    offset = 4 + 4  # correlation id, throttle time
    (count,) = struct.unpack_from("!i", data, offset)
    offset += 4
    brokers = []
    for _ in range(max(count, 0)):
        (node_id,) = struct.unpack_from("!i", data, offset)
        broker_host, offset = _kafka_string(data, offset + 4)
        (broker_port,) = struct.unpack_from("!i", data, offset)
        _rack, offset = _kafka_string(data, offset + 4)
        brokers.append((node_id, broker_host or "", broker_port))
    if not brokers:
        raise ProbeError("the broker answers but lists no live broker yet")
    return brokers


# --- which protocol does a port speak? ----------------------------------------------------

#: What :func:`identify_protocol` returns, and how messages name it.
PROTOCOL_NAMES = {
    "kafka": "a Kafka broker",
    "postgres": "a PostgreSQL server",
    "redis": "a Redis server",
    "http": "an HTTP server",
    "other": "a server of another protocol",
}
_IDENTIFY_ID = 0x494B4944  # "IKID", the correlation id of the probe


def _kafka_probe() -> bytes:
    """A Kafka ``ApiVersions`` v0 request followed by CRLF: a Kafka broker answers with our
    correlation id; PostgreSQL reads a startup packet of protocol 18.0 and refuses it with an
    ``E`` message; an HTTP server answers 400. (Redis ignores it: see :data:`_REDIS_PROBE`.)"""
    client_id = b"integration-kit"
    request = struct.pack("!hhih", 18, 0, _IDENTIFY_ID, len(client_id)) + client_id
    return struct.pack("!i", len(request)) + request + b"\r\n"


#: An inline ``PING``: Redis answers ``+PONG`` or ``-NOAUTH``; Kafka and PostgreSQL read its
#: first bytes as an impossible length and hang up without a word.
_REDIS_PROBE = b"PING\r\n"


def _exchange(host: str, port: int, probe: bytes, timeout: float) -> bytes:
    reply = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(probe)
            while len(reply) < 8 and b"\n" not in reply:  # enough to tell every protocol apart
                chunk = sock.recv(64)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        pass  # refused, reset or silent: what arrived (maybe nothing) is the answer
    return reply


def identify_protocol(host: str, port: int, *, timeout: float = 1.0) -> str | None:
    """Which protocol the server at ``host:port`` speaks (a key of :data:`PROTOCOL_NAMES`),
    or None when nothing answers (refused, closed without a word, or silent). At most two
    short connections, each waiting at most ``timeout`` seconds."""
    found = _classify(_exchange(host, port, _kafka_probe(), timeout))
    if found is None:
        found = _classify(_exchange(host, port, _REDIS_PROBE, timeout))
    return found


def kafka_sasl_mechanisms(host: str, port: int, *, timeout: float = 1.0) -> list[str] | None:
    """The SASL mechanisms a Kafka listener at ``host:port`` requires, or None when it needs
    none (or does not answer). One ``SaslHandshake`` v1 request: a SASL listener answers
    with its enabled mechanisms (error NONE or UNSUPPORTED_SASL_MECHANISM), a PLAINTEXT one
    with ILLEGAL_SASL_STATE."""
    client_id, mechanism = b"integration-kit", b"PLAIN"
    request = struct.pack("!hhih", 17, 1, _IDENTIFY_ID, len(client_id)) + client_id
    request += struct.pack("!h", len(mechanism)) + mechanism
    reply = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!i", len(request)) + request)
            while len(reply) < 4 or len(reply) < 4 + struct.unpack("!i", reply[:4])[0]:
                chunk = sock.recv(4096)
                if not chunk or len(reply) > 65536:
                    break
                reply += chunk
    except OSError:
        return None
    return _sasl_mechanisms(reply)


def _sasl_mechanisms(reply: bytes) -> list[str] | None:
    try:
        correlation, error, count = struct.unpack("!ihi", reply[4:14])
        if correlation != _IDENTIFY_ID or error not in (0, 33):  # NONE, UNSUPPORTED_SASL_MECHANISM
            return None
        mechanisms, at = [], 14
        for _ in range(count):
            (size,) = struct.unpack("!h", reply[at : at + 2])
            mechanisms.append(reply[at + 2 : at + 2 + size].decode("utf-8", "replace"))
            at += 2 + size
    except struct.error:
        return None
    return mechanisms


def _classify(reply: bytes) -> str | None:
    if not reply:
        return None
    if len(reply) >= 8 and struct.unpack("!i", reply[4:8])[0] == _IDENTIFY_ID:
        return "kafka"
    if reply.startswith(b"HTTP/") or reply.lstrip()[:9].lower() in (b"<!doctype", b"<html>"):
        return "http"  # a status line, or an HTTP/0.9 answer (the body alone)
    if reply[:1] in (b"-", b"+"):
        return "redis"
    if reply[:1] == b"E" and len(reply) >= 5 and 4 < struct.unpack("!I", reply[1:5])[0] < 65536:
        return "postgres"
    return "other"


# --- protocol checks with backoff ---------------------------------------------------------


def check_for(kind: str, endpoint: Endpoint) -> HealthCheck:
    """The protocol-level health check of a ``kind`` service at ``endpoint``."""
    if kind == "postgres":
        return PostgresCheck(dsn=endpoint.dsn)
    if kind == "redis":
        return RedisCheck(url=endpoint.url)
    if kind == "kafka":
        return KafkaCheck(bootstrap_servers=endpoint.bootstrap_servers)
    raise ValueError(f"no protocol check for {kind!r} services")


class StartCancelled(BaseException):
    """Raised through the health polling when the start is given up (not an Exception, so
    that :func:`~integration_kit.health.wait_healthy` does not take it for "not yet")."""


class _Cancellable:
    def __init__(self, check: HealthCheck, cancelled: Callable[[], bool]) -> None:
        self.check = check
        self.cancelled = cancelled

    def describe(self) -> str:
        return self.check.describe()

    async def probe(self) -> None:
        if self.cancelled():
            raise StartCancelled(self.describe())
        await self.check.probe()


def wait_ready(
    kind: str,
    endpoint: Endpoint,
    *,
    deadline: float,
    cancelled: Callable[[], bool] | None = None,
    check: HealthCheck | None = None,
) -> float:
    """Poll the ``kind`` check (or ``check``) until it passes or the ``time.monotonic()``
    deadline passes.

    Returns the seconds it took; raises ``IK-HEALTH-TIMEOUT`` with the last failure, or
    :class:`StartCancelled` as soon as ``cancelled()`` is true.
    Blocks; inside a running event loop it polls on a helper thread.
    """
    timeout = max(deadline - time.monotonic(), 0.05)
    if check is None:
        check = check_for(kind, endpoint)
    if cancelled is not None:
        check = _Cancellable(check, cancelled)
    return run_blocking(lambda: wait_healthy(check, timeout=timeout, backoff=PROBE_BACKOFF))


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop
    (an async fixture starting services): then on a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        in_loop = False  # run outside the except block: its RuntimeError is no cause of ours
    else:
        in_loop = True
    if not in_loop:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ik-health") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
