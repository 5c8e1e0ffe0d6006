"""Kafka on the docker backend: one KRaft node, advertised at a host port mapped 1:1.

The environment follows the apache/kafka image's contract (:func:`kafka_environment`);
topics are never auto-created (a test's topics are the ones it declares). The JVM's
class-data archive is cached per image on the host (:class:`KafkaClassCache`).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from integration_kit.services.backends.docker.container import Recipe, bind, with_env
from integration_kit.services.base import Endpoint, KafkaService
from integration_kit.services.ports import HOST, free_port

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

KAFKA_CONTROLLER_PORT = 9093


def kafka_env_name(key: str) -> str:
    """``group.initial.rebalance.delay.ms`` -> ``KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS``.

    The apache/kafka image's inverse mapping: ``.`` -> ``_``, ``_`` -> ``__``, ``-`` -> ``___``.
    """
    return "KAFKA_" + key.replace("-", "\0").replace("_", "__").replace(".", "_").replace("\0", "___").upper()


def kafka_environment(port: int, broker_config: dict[str, str] | None = None) -> dict[str, str]:
    """apache/kafka env for a single KRaft broker+controller advertised at ``127.0.0.1:port``."""
    config = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": f"1@127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "false",
        "log.dirs": "/tmp/kraft-combined-logs",
    }
    config.update(broker_config or {})
    env = {kafka_env_name(key): value for key, value in config.items()}
    env["CLUSTER_ID"] = "ik" + uuid.uuid4().hex[:20]
    # A test broker: small heap, fast JIT warm-up over peak throughput.
    env["KAFKA_HEAP_OPTS"] = "-Xms256m -Xmx768m"
    env["KAFKA_JVM_PERFORMANCE_OPTS"] = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"
    return env


def recipe(spec: KafkaService, *, cds: KafkaClassCache | None = None) -> Recipe:
    """One KRaft node, advertised at the host port that is mapped 1:1 into the container.

    A Kafka client connects to the bootstrap address, then to the address the broker
    *advertises*, so that must be reachable from the test process. testcontainers'
    ``KafkaContainer`` solves this by starting the container with a shell loop that waits
    for a start script it copies in after the random host port is known; that script
    sources Confluent's ``/etc/confluent/docker`` layout (absent from apache/kafka) and
    adds a copy round-trip plus a 0.1 s poll to every start. Instead we pick a free host
    port first and publish it 1:1, so ``127.0.0.1:<port>`` is right both from the host and
    inside the container (where the broker also uses it as its inter-broker listener).
    The small race (the port taken between picking and binding) surfaces as
    IK-SVC-PORT-IN-USE and is retried with another port.
    """
    port = spec.port if spec.port is not None else free_port()

    def configure(container: DockerContainer) -> None:
        env = kafka_environment(port, dict(spec.broker_config))
        if cds is not None:
            env["KAFKA_JVM_PERFORMANCE_OPTS"] += " " + cds.jvm_option
            container.with_volume_mapping(str(cds.directory), CDS_MOUNT, "ro" if cds.ready else "rw")
        with_env(container, **env)
        bind(container, port, port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return Endpoint(host=HOST, port=port)

    return Recipe(
        configure=configure,
        ready_log=r"Kafka Server started",
        tmpfs=("/tmp/kraft-combined-logs",),
        endpoint=endpoint,
        cpu_shares=2048,
        before_stop=None if cds is None or cds.ready else cds.collect,
    )


CDS_MOUNT = "/ik-cds"


@dataclass(frozen=True)
class KafkaClassCache:
    """An AppCDS archive of the classes Kafka's JVM loads, cached per image on the host.

    Class loading is a large part of a broker's start; a JVM that maps a shared archive
    of those classes starts the broker about a quarter faster. The first Kafka container
    of an image records the archive (``-XX:ArchiveClassesAtExit``, written when the JVM
    exits, so that container is stopped gracefully); later ones map it read-only
    (``-XX:SharedArchiveFile``). With ``-Xshare:auto`` a missing or mismatched archive
    is ignored. Works with any image whose run script honours
    ``KAFKA_JVM_PERFORMANCE_OPTS`` (apache/kafka's does) on a JVM >= 13.
    """

    directory: Path
    ready: bool
    training_name: str = ""

    ARCHIVE = "kafka.jsa"

    @classmethod
    def for_image(cls, cache_dir: Path, image_id: str) -> KafkaClassCache:
        directory = Path(cache_dir) / "kafka-cds" / image_id
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # the broker runs as a non-root user in the container
        if (directory / cls.ARCHIVE).is_file():
            return cls(directory=directory, ready=True)
        return cls(directory=directory, ready=False, training_name=f"train-{uuid.uuid4().hex[:12]}.jsa")

    @property
    def jvm_option(self) -> str:
        if self.ready:
            return f"-XX:SharedArchiveFile={CDS_MOUNT}/{self.ARCHIVE}"
        return f"-XX:ArchiveClassesAtExit={CDS_MOUNT}/{self.training_name}"

    def collect(self, container: DockerContainer) -> None:
        """Stop the recording container gracefully, then publish its archive atomically."""
        wrapped = container.get_wrapped_container()
        wrapped.stop(timeout=30)
        recorded = self.directory / self.training_name
        try:
            if (
                recorded.is_file()
                and recorded.stat().st_size > 0
                and not (self.directory / self.ARCHIVE).exists()
            ):
                os.replace(recorded, self.directory / self.ARCHIVE)
        finally:
            recorded.unlink(missing_ok=True)
