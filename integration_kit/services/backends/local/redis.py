"""Redis on the local backend: ``redis-server`` without persistence, on a free port."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from integration_kit.services import readiness
from integration_kit.services.backends.local.server import LocalService, new_dir, spawn, wait_ready
from integration_kit.services.base import Endpoint, RedisService
from integration_kit.services.ports import HOST, claim_port

if TYPE_CHECKING:
    from integration_kit.services.backends.local.backend import LocalBackend


def start(
    backend: LocalBackend, spec: RedisService, paths: Mapping[str, Path], deadline: float
) -> LocalService:
    """Start ``redis-server`` and return once it answers ``PING``."""
    port = claim_port(spec.port, service=spec.key)
    service_dir = new_dir(backend.root, "redis", backend.owner)
    argv = [
        str(paths["redis-server"]),
        *("--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"),
        *("--dir", str(service_dir.path), "--daemonize", "no", "--protected-mode", "no"),
        *("--databases", "16"),
    ]
    endpoint = Endpoint(host=HOST, port=port, database="0")
    # redis-server rewrites its process title to "redis-server 127.0.0.1:<port>".
    service = spawn(
        spec,
        endpoint,
        service_dir,
        argv,
        owner=backend.owner,
        match=f"{HOST}:{port}",
        stop_signal=signal.SIGKILL,
    )
    wait_ready(service, lambda t: readiness.redis_ping(HOST, port, timeout=t), deadline, interval=0.001)
    return service
