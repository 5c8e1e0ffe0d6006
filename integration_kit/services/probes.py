"""Readiness of a started PostgreSQL, Redis or Kafka: the protocol checks of
:mod:`integration_kit.health` for an :class:`~integration_kit.services.base.Endpoint`.

A backend calls :func:`wait_ready` after the server's final "ready" state (log line,
port) to prove that clients can really talk to it: ``SELECT 1``, ``PING``, Kafka
metadata with a live broker plus a produce/consume round trip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from integration_kit.health import HealthCheck, KafkaCheck, PostgresCheck, RedisCheck, wait_healthy
from integration_kit.services.base import Endpoint
from integration_kit.waiting import Backoff

T = TypeVar("T")
PROBE_BACKOFF = Backoff(initial=0.02, factor=1.6, maximum=0.4, jitter=0.3)


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
    kind: str, endpoint: Endpoint, *, deadline: float, cancelled: Callable[[], bool] | None = None
) -> float:
    """Poll the ``kind`` check until it passes or the ``time.monotonic()`` deadline passes.

    Returns the seconds it took; raises ``IK-HEALTH-TIMEOUT`` with the last failure, or
    :class:`StartCancelled` as soon as ``cancelled()`` is true.
    Blocks; inside a running event loop it polls on a helper thread.
    """
    timeout = max(deadline - time.monotonic(), 0.05)
    check: HealthCheck = check_for(kind, endpoint)
    if cancelled is not None:
        check = _Cancellable(check, cancelled)
    return run_blocking(lambda: wait_healthy(check, timeout=timeout, backoff=PROBE_BACKOFF))


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop
    (an async fixture starting services): then on a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ik-health") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
