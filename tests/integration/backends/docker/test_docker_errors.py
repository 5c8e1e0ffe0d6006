"""Bad input on the docker backend and in a session: each a coded error with a cause."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services import ownership
from integration_kit.services.backends.docker import DockerBackend
from integration_kit.services.backends.docker.container import labelled_containers
from integration_kit.services.base import KafkaService, PostgresService, RedisService
from integration_kit.services.session import ServiceSession

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _our_containers(backend: DockerBackend) -> list[tuple[str, dict[str, str]]]:
    return labelled_containers(backend.client(), f"{ownership.LABEL_RUN_ID}={backend.run_id}")


def test_absent_image_is_not_pulled(docker_settings: Settings) -> None:
    settings = docker_settings.replace(postgres_image="integration-kit/absent:0", allow_pull=False)
    backend = DockerBackend(settings)
    with raises_code(ErrorCode.DOCKER_IMAGE_MISSING) as caught:
        backend.start(PostgresService(), timeout=10)
    assert caught[0].context["image"] == "integration-kit/absent:0"
    assert "INTEGRATION_KIT_POSTGRES_IMAGE" in caught[0].hint
    assert _our_containers(backend) == []


def test_unreachable_engine(docker_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    backend = DockerBackend(docker_settings)
    assert backend.available()[0] is False
    with raises_code(ErrorCode.DOCKER_UNAVAILABLE) as caught:
        backend.start(RedisService(), timeout=5)
    assert "nonexistent" in caught[0].context["url"]


def test_fixed_port_already_taken(docker_backend: DockerBackend, taken_port: int) -> None:
    with raises_code(ErrorCode.SVC_PORT_IN_USE) as caught:
        docker_backend.start(RedisService(port=taken_port), timeout=30)
    assert caught[0].context["port"] == taken_port


@pytest.mark.slow
def test_never_healthy_fails_at_the_deadline_with_the_log_tail(docker_settings: Settings) -> None:
    # A "Kafka" that is really Redis: it runs, but never logs Kafka's ready line.
    settings = docker_settings.replace(kafka_image=docker_settings.redis_image)
    backend = DockerBackend(settings)
    with raises_code(ErrorCode.SVC_NOT_HEALTHY) as caught:
        backend.start(KafkaService(), timeout=3)
    error = caught[0]
    assert error.context["timeout"] == 3
    assert error.log_tail is not None and "Ready to accept connections" in error.log_tail
    assert _our_containers(backend) == []  # the failed start cleaned up after itself


@pytest.mark.slow
def test_session_stops_the_others_and_names_the_failed_service(docker_settings: Settings) -> None:
    settings = docker_settings.replace(
        kafka_image=docker_settings.redis_image, start_timeout=3, start_attempts=2
    )
    backend = DockerBackend(settings)
    with ServiceSession(settings, backend=backend, reap=False) as session:
        with raises_code(ErrorCode.SVC_START_FAILED) as caught:
            session.ensure([RedisService(), KafkaService()])
        error = caught[0]
        assert error.context["service"] == "kafka"
        assert error.context["cause_code"] == ErrorCode.SVC_NOT_HEALTHY.value
        assert error.context["attempts"] == 2  # a flaky-looking failure is retried
        assert error.log_tail and "Ready to accept connections" in error.log_tail
        # Redis started fine, but was stopped with the failed batch.
        assert session.running() == []
        assert _our_containers(backend) == []
        # The failure is remembered: asking again fails at once, with the same error.
        with raises_code(ErrorCode.SVC_START_FAILED) as again:
            session.ensure([KafkaService()])
        assert again[0] is error
