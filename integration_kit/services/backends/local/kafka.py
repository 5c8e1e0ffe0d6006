"""Kafka on the local backend: one KRaft node (broker + controller) from a Kafka home.

Storage is formatted once per Kafka home and cached; the broker gets test-friendly
settings (single replica, no rebalance delay, no auto-created topics) and fast JVM start
flags, and its first start records the classes it loads for a class-data archive that
later starts map.
"""

from __future__ import annotations

import base64
import hashlib
import signal
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integration_kit.errors import ErrorCode, HealthCheckError, ServiceError
from integration_kit.services import readiness
from integration_kit.services.backends.local.files import RunAs, copy_tree, run_tool, store_copy
from integration_kit.services.backends.local.server import LocalService, new_dir, spawn, wait_ready
from integration_kit.services.base import Endpoint, KafkaService
from integration_kit.services.ports import HOST, claim_port, free_port

if TYPE_CHECKING:
    from integration_kit.services.backends.local.backend import LocalBackend

_CACHE_FORMAT = "1"

#: Broker settings for a single-node test cluster (merged under ``KafkaService.broker_config``).
KAFKA_SETTINGS: Mapping[str, str] = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "share.coordinator.state.topic.num.partitions": "1",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "min.insync.replicas": "1",
    "auto.create.topics.enable": "false",
    "delete.topic.enable": "true",
    "num.network.threads": "2",
    "num.io.threads": "4",
    "num.recovery.threads.per.data.dir": "1",
    "log.segment.delete.delay.ms": "0",
    "file.delete.delay.ms": "0",
}

JVM_FLAGS: Sequence[str] = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)


def start(
    backend: LocalBackend, spec: KafkaService, paths: Mapping[str, Path], deadline: float
) -> LocalService:
    """Start a KRaft node and return once it lists itself as a live broker and passes a
    produce/consume round trip."""
    libs, java = paths["libs"], paths["java"]
    jars = sorted(p.name for p in libs.glob("*.jar"))
    key = hashlib.sha1("|".join([_CACHE_FORMAT, str(libs), *jars]).encode()).hexdigest()[:12]
    cache = backend.cache_root / "local" / f"kafka-{key}"
    service_dir = new_dir(backend.root, "kafka", backend.owner)
    try:
        port, controller_port = claim_port(spec.port, service=spec.key), free_port()
        while controller_port == port:
            controller_port = free_port()
        data = service_dir.path / "data"
        config = {
            **KAFKA_SETTINGS,
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.quorum.voters": f"1@{HOST}:{controller_port}",
            "log.dirs": str(data),
            **{str(k): str(v) for k, v in spec.broker_config.items()},
        }
        properties = service_dir.path / "server.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        classpath = str(libs / "*")
        source = "cache"
        if (cache / "meta.properties").is_file():
            copy_tree(cache, data)
        else:
            source = "format"
            run_tool(
                [
                    str(java),
                    *JVM_FLAGS,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(key),
                    "-c",
                    str(properties),
                    "--ignore-formatted",
                ],
                RunAs.current(),
                deadline,
                what="kafka storage format",
            )
            store_copy(data, cache)
    except BaseException:
        service_dir.remove()
        raise
    archive_flags, record, stop_signal = _archive_flags(cache, java, classpath)
    argv = [
        str(java),
        *JVM_FLAGS,
        *archive_flags,
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(properties),
    ]
    endpoint = Endpoint(host=HOST, port=port)
    service = spawn(
        spec,
        endpoint,
        service_dir,
        argv,
        owner=backend.owner,
        match=str(properties),
        stop_signal=stop_signal,
        record=record,
    )
    service.data_source = source
    wait_ready(service, lambda t: readiness.kafka_brokers(HOST, port, timeout=t), deadline, interval=0.02)
    _roundtrip(service, deadline)
    return service


def _roundtrip(service: LocalService, deadline: float) -> None:
    """Kafka's full health check (a message round trip), as the docker backend does."""
    try:
        readiness.wait_ready(service.spec.kind, service.endpoint, deadline=deadline)
    except HealthCheckError as exc:
        tail = service.log_tail()
        service.stop()
        raise ServiceError(
            ErrorCode.SVC_NOT_HEALTHY,
            service=service.spec.key,
            timeout=exc.context.get("timeout", 0.0),
            cause=exc.context.get("last", exc),
            log_tail=tail,
        ) from exc


def _archive_flags(cache: Path, java: Path, classpath: str) -> tuple[list[str], dict[str, Any], int]:
    """JVM flags for Kafka's application class-data archive (AppCDS).

    A Kafka start is mostly class loading. The first start records the classes it loads
    (``-XX:DumpLoadedClassList``, no cost); when it stops, a detached low-priority
    ``java -Xshare:dump`` turns the list into an archive in the cache, which later starts
    map (``-XX:SharedArchiveFile``) and so need far less CPU. A stale or broken archive is
    ignored by the JVM (``-Xshare:auto``).
    """
    stat = java.resolve().stat()
    tag = hashlib.sha1(f"{java.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:8]
    final = cache.parent / f"{cache.name}-{tag}.jsa"
    if final.is_file():
        return [f"-XX:SharedArchiveFile={final}"], {}, signal.SIGKILL
    cache.parent.mkdir(parents=True, exist_ok=True)
    classlist = cache.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}.classlist"
    partial = final.with_name(f".tmp-{final.name}-{uuid.uuid4().hex[:8]}")
    # Run detached after the broker stops (see server.run_after_stop): only when the
    # list was written and no other run published the archive meanwhile.
    script = (
        '[ -s "$2" ] && [ ! -e "$5" ] && nice -n 10 "$1" -Xshare:dump -XX:SharedClassListFile="$2" '
        '-XX:SharedArchiveFile="$3" -cp "$4" >/dev/null 2>&1 && mv -f "$3" "$5"; rm -f "$2" "$3"'
    )
    after_stop = ["sh", "-c", script, "sh", str(java), str(classlist), str(partial), classpath, str(final)]
    return [f"-XX:DumpLoadedClassList={classlist}"], {"after_stop": after_stop}, signal.SIGKILL


def _cluster_id(key: str) -> str:
    """A stable 22-character base64 cluster id derived from the cache key.

    Never one that starts with ``-``: the storage tool would read it as an option (Kafka's
    own ``Uuid.randomUuid`` draws again for the same reason)."""
    encoded = base64.urlsafe_b64encode(hashlib.md5(key.encode()).digest()).decode()[:22]
    return "A" + encoded[1:] if encoded.startswith("-") else encoded
