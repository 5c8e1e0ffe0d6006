"""Ports on this machine: the host services are published on, free ports and claims."""

from __future__ import annotations

import socket

from integration_kit.errors import ErrorCode, ServiceError

#: Where the kit's servers listen and are published (loopback only).
HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port that was free on ``host`` a moment ago (callers retry if a race takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether ``port`` can be bound on ``host`` (and on all interfaces)."""
    for address in (host, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def claim_port(wanted: int | None, *, service: str, host: str = HOST) -> int:
    """``wanted`` if it is free (``IK-SVC-PORT-IN-USE`` if not), else a free port."""
    if wanted is None:
        return free_port(host)
    if not port_is_free(wanted, host):
        raise ServiceError(ErrorCode.SVC_PORT_IN_USE, port=wanted, host=host, service=service)
    return int(wanted)
