"""Unit tests of the lifecycle pieces that need no engine: names, labels, session logic."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, ServiceError, raises_code
from integration_kit.services import ownership
from integration_kit.services.backends.docker import kafka_env_name, kafka_environment
from integration_kit.services.base import Endpoint, KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.ownership import Owner
from integration_kit.services.process import ProcessService, render
from integration_kit.services.session import ServiceSession

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("key", "env"),
    [
        ("group.initial.rebalance.delay.ms", "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"),
        ("listener.name.internal.ssl.key_password", "KAFKA_LISTENER_NAME_INTERNAL_SSL_KEY__PASSWORD"),
        ("some-dashed.key", "KAFKA_SOME___DASHED_KEY"),
    ],
)
def test_kafka_env_names_follow_the_apache_image_contract(key: str, env: str) -> None:
    assert kafka_env_name(key) == env


def test_kafka_environment_advertises_the_host_port() -> None:
    env = kafka_environment(41234, {"num.partitions": "3"})
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://127.0.0.1:41234"
    assert env["KAFKA_LISTENERS"].startswith("PLAINTEXT://0.0.0.0:41234,")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert env["KAFKA_NUM_PARTITIONS"] == "3"  # broker_config overrides defaults


def test_owner_labels_and_liveness() -> None:
    labels = Owner.current(run_id="run1").labels()
    assert labels[ownership.LABEL_PID] == str(os.getpid())
    assert ownership.owner_alive(labels)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not ownership.owner_alive({**labels, ownership.LABEL_PID: str(dead.pid)})
    # Same pid, different start time: the pid was recycled, the owner is gone.
    assert not ownership.owner_alive({**labels, ownership.LABEL_PID_START: "1"})
    # Another machine's run is never judged dead from here.
    elsewhere = {**labels, ownership.LABEL_PID: str(dead.pid), ownership.LABEL_HOST: "elsewhere"}
    assert ownership.owner_alive(elsewhere)


def test_placeholders_render_endpoint_attributes() -> None:
    pg = Endpoint(host="h", port=5, user="u", password="p", database="d")
    assert render("{postgres.dsn} on {port}", {"postgres": pg, "port": 9}) == "postgresql://u:p@h:5/d on 9"


@dataclass
class _Running:
    spec: ServiceSpec
    endpoint: Endpoint
    stopped: list[str]
    backend_name: str = "scripted"
    started_here: bool = True

    def log_tail(self, lines: int = 40) -> str:
        return f"log of {self.spec.key}"

    def stop(self) -> None:
        self.stopped.append(self.spec.key)

    def detach(self) -> dict[str, str]:
        return {"backend": "scripted", "key": self.spec.key}


@dataclass
class _ScriptedBackend:
    """A Backend whose starts follow a script: how many times each key fails first."""

    fail_first: dict[str, int] = field(default_factory=dict)
    fail_code: ErrorCode = ErrorCode.SVC_NOT_HEALTHY
    barrier: threading.Barrier | None = None
    name: str = "scripted"
    owner: Owner = field(default_factory=Owner.current)
    starts: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def available(self) -> tuple[bool, str]:
        return True, "always"

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        return True, "always"

    def stop_handle(self, handle: dict[str, str]) -> None:
        self.stopped.append(handle["key"])

    def handle_alive(self, handle: dict[str, str]) -> bool:
        return True

    def close(self) -> None:
        pass

    def start(self, spec: ServiceSpec, *, timeout: float) -> _Running:
        self.starts.append(spec.key)
        if self.barrier is not None:
            self.barrier.wait(timeout=30)  # all starts of a batch must be in flight together
        if self.fail_first.get(spec.key, 0) > 0:
            self.fail_first[spec.key] -= 1
            raise ServiceError(self.fail_code, service=spec.key, timeout=timeout, cause="scripted")
        return _Running(spec=spec, endpoint=Endpoint(host="127.0.0.1", port=1), stopped=self.stopped)

    def reap(self) -> int:
        return 0


SETTINGS = load_settings(start_attempts=2, environ={}, pyproject=None)


def test_batch_starts_in_parallel_once_and_stops_once() -> None:
    backend = _ScriptedBackend(barrier=threading.Barrier(3))
    specs = [PostgresService(), RedisService(), KafkaService()]
    with ServiceSession(SETTINGS, backend=backend) as session:
        session.ensure(specs)
        backend.barrier = None
        session.ensure(specs)  # already running: not started again
        assert sorted(backend.starts) == ["kafka", "postgres", "redis"]
    assert sorted(backend.stopped) == ["kafka", "postgres", "redis"]


def test_flaky_start_is_retried() -> None:
    backend = _ScriptedBackend(fail_first={"redis": 1})
    with ServiceSession(SETTINGS, backend=backend) as session:
        session.ensure([RedisService()])
        assert session.records["redis"].attempts == 2


def test_configuration_errors_are_not_retried_and_stop_the_batch() -> None:
    backend = _ScriptedBackend(fail_first={"redis": 5}, fail_code=ErrorCode.DOCKER_IMAGE_MISSING)
    with ServiceSession(SETTINGS, backend=backend) as session:
        with raises_code(ErrorCode.SVC_START_FAILED) as caught:
            session.ensure([PostgresService(), RedisService()])
        assert caught[0].context["cause_code"] == ErrorCode.DOCKER_IMAGE_MISSING.value
        assert caught[0].context["attempts"] == 1
        assert backend.stopped == ["postgres"]
        assert session.running() == []


def test_stopped_session_refuses_new_starts() -> None:
    session = ServiceSession(SETTINGS, backend=_ScriptedBackend())
    with session:
        pass
    with raises_code(ErrorCode.SVC_START_FAILED):
        session.ensure([RedisService()])


def test_free_port_helper_agrees_with_the_kernel() -> None:
    from integration_kit.services.ports import port_is_free

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not port_is_free(sock.getsockname()[1])


def test_process_spec_requires_a_command() -> None:
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        ProcessService(name="app", command=[])
