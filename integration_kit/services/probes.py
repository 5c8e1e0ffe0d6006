"""Readiness of a started PostgreSQL, Redis or Kafka: the protocol checks of
:mod:`integration_kit.health` for an :class:`~integration_kit.services.base.Endpoint`.

A backend calls :func:`wait_ready` after the server's final "ready" state (log line,
port) to prove that clients can really talk to it: ``SELECT 1``, ``PING``, Kafka
metadata with a live broker plus a produce/consume round trip.
"""

from __future__ import annotations

import asyncio
import time

from integration_kit.health import HealthCheck, KafkaCheck, PostgresCheck, RedisCheck, wait_healthy
from integration_kit.services.base import Endpoint
from integration_kit.waiting import Backoff

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


def wait_ready(kind: str, endpoint: Endpoint, *, deadline: float) -> float:
    """Poll the ``kind`` check until it passes or the ``time.monotonic()`` deadline passes.

    Returns the seconds it took; raises ``IK-HEALTH-TIMEOUT`` with the last failure.
    Runs its own event loop: call it from a plain (non-async) thread.
    """
    timeout = max(deadline - time.monotonic(), 0.05)
    return asyncio.run(wait_healthy(check_for(kind, endpoint), timeout=timeout, backoff=PROBE_BACKOFF))
