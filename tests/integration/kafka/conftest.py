"""Fixtures for the Kafka layer's tests: the run's broker and self-cleaning topic names."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from integration_kit.kafka import delete_topics
from integration_kit.services.base import Endpoint
from integration_kit.services.namespace import Namespace


@pytest.fixture
def kafka_servers(ik_kafka: Endpoint) -> str:
    """Bootstrap servers of the run's broker (skips when there is none)."""
    return ik_kafka.bootstrap_servers


@pytest.fixture
async def new_topic(kafka_servers: str) -> AsyncIterator[Callable[[str], str]]:
    """``new_topic("orders")`` -> a unique, worker-namespaced name, deleted after the test."""
    made: list[str] = []

    def make(stem: str = "t") -> str:
        name = Namespace.current().topic(f"ik-test.{stem}.{uuid.uuid4().hex[:10]}")
        made.append(name)
        return name

    yield make
    if made:
        await delete_topics(kafka_servers, made, timeout=15)


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
