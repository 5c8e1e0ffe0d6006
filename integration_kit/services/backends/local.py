"""The ``local`` backend: PostgreSQL, Redis and Kafka run from binaries on this machine.

Each server gets its own directory under the runtime root (``/dev/shm`` where it exists),
a free port on 127.0.0.1 and its own process group, and is stopped at exit, on SIGINT
and SIGTERM. A pid file in its directory names the owner process; at the next start,
directories of dead owners are cleaned up (their servers killed) with a warning coded
``IK-LOCAL-STALE-PIDFILE``.

* PostgreSQL: ``initdb`` once, the initialized data directory cached under
  ``Settings.cache_dir``; a spare copy is kept ready in the runtime root so the next start
  only renames it and launches ``postgres`` (fsync, synchronous_commit and
  full_page_writes off), polling ``postmaster.pid`` every 2 ms. Runs as the ``postgres``
  user (or ``nobody``) when started by root, since PostgreSQL refuses to run as root.
* Redis: ``redis-server`` without persistence.
* Kafka: KRaft combined mode (broker + controller) from a Kafka home (a directory with
  ``libs/*.jar``), storage formatted once and cached, test-friendly broker settings and
  fast JVM start flags.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.backends import _probes
from integration_kit.services.backends._runtime import (
    EXIT_GUARD,
    ServiceDir,
    block_exit_signals,
    free_port,
    log,
    reap_stale,
    runtime_root,
    stop_process_group,
    stop_recorded,
)
from integration_kit.services.base import (
    Endpoint,
    KafkaService,
    PostgresService,
    RedisService,
    ServiceSpec,
)

HOST = "127.0.0.1"
STOP_GRACE_S = 5.0
KINDS = ("postgres", "redis", "kafka")
_POLL_S = 0.002
_CACHE_FORMAT = "1"

INSTALL_HINTS = {
    "postgres": "apt-get install postgresql (Debian/Ubuntu), brew install postgresql@15 (macOS)",
    "redis": "apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)",
    "java": "apt-get install openjdk-17-jre-headless (Debian/Ubuntu), brew install openjdk@17 (macOS)",
    "kafka": "bash scripts/provision.sh (puts a Kafka home under the cache dir) or unpack a "
    "Kafka 4.x release",
}

_BUILTIN_DATABASES = ("postgres", "template1", "template0")
#: initdb options: trust auth, no fsync, 1 MB WAL segments (a smaller data directory to copy).
INITDB_ARGS: Sequence[str] = (
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "-N",
    "--no-instructions",
    "--wal-segsize=1",
)

#: PostgreSQL settings for throwaway test clusters (durability off).
POSTGRES_SETTINGS: Mapping[str, str] = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    # Segments live in the data directory, so a killed server leaves none in /dev/shm.
    "dynamic_shared_memory_type": "mmap",
}

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
    "auto.create.topics.enable": "true",
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


# --- running services ---------------------------------------------------------------------


@dataclass(eq=False)
class LocalService:
    """A server process started by :class:`LocalBackend`."""

    spec: ServiceSpec
    endpoint: Endpoint
    service_dir: ServiceDir
    process: subprocess.Popen[bytes] | None
    log_path: Path
    stop_signal: int = signal.SIGTERM
    #: Where the data directory came from: ``initdb``/``format``, ``cache`` or ``spare``.
    data_source: str = ""
    #: The detached ``java -Xshare:dump`` started when a recording Kafka stopped, if any.
    archive_builder: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and its process group and remove its directory (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        EXIT_GUARD.unregister(id(self))
        record = self.service_dir.read() or {}
        if self.process is not None:
            stop_process_group(self.process.pid, first_signal=self.stop_signal, grace=STOP_GRACE_S)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)
        self.archive_builder = _finish_archive(record)
        self.service_dir.remove()

    def detach(self, *, owner_pid: int) -> dict[str, Any]:
        """Hand the server over: this process no longer stops it at exit.

        ``owner_pid`` becomes the owner in the pid file (a dead owner makes it stale).
        Returns a JSON-able handle for :func:`stop_handle`, usable from any process.
        """
        EXIT_GUARD.unregister(id(self))
        self.service_dir.update(owner_pid=owner_pid)
        return {"backend": "local", "dir": str(self.service_dir.path), "pid": self.pid}

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_handle(handle: Mapping[str, Any]) -> None:
    """Stop a server from its :meth:`LocalService.detach` handle (from any process)."""
    service_dir = ServiceDir(Path(str(handle["dir"])))
    record = service_dir.read()
    if record is not None and int(record.get("pid", 0)) == int(handle.get("pid", 0)):
        stop_recorded(record)
        _finish_archive(record)
    service_dir.remove()


# --- locating binaries --------------------------------------------------------------------


def _well_known_bin_dirs() -> list[Path]:
    patterns = (
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/opt/homebrew/bin",
        "/usr/local/opt/postgresql@*/bin",
    )
    found: list[Path] = []
    for pattern in patterns:
        found.extend(Path(p) for p in sorted(glob.glob(pattern), reverse=True))
    return found


def _version_key(path: Path) -> tuple[int, ...]:
    digits = "".join(ch if ch.isdigit() else " " for ch in path.name).split()
    return tuple(int(d) for d in digits)


@dataclass(frozen=True)
class _Found:
    kind: str
    paths: dict[str, Path]
    searched: list[str]


class LocalBackend:
    """Runs services from local binaries. See the module docstring."""

    name = "local"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        search_path: Sequence[Path | str] | None = None,
        owner_pid: int | None = None,
    ) -> None:
        """``search_path`` replaces PATH and the well-known install directories
        (``Settings.local_path`` is always searched first); ``owner_pid`` is the process
        whose death makes the servers stale (default: this process)."""
        self.settings = settings if settings is not None else load_settings()
        self._search_path = None if search_path is None else [Path(p) for p in search_path]
        self.owner_pid = owner_pid
        self._reaped = False
        self._background: list[threading.Thread] = []
        self._background_lock = threading.Lock()

    # -- discovery --

    @property
    def root(self) -> Path:
        return runtime_root(self.settings.runtime_dir)

    def _dirs(self, *, well_known: bool) -> list[Path]:
        dirs: list[Path] = []
        if self.settings.local_path:
            dirs.extend(Path(p).expanduser() for p in self.settings.local_path.split(os.pathsep) if p)
        if self._search_path is not None:
            dirs.extend(self._search_path)
        else:
            dirs.extend(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)
            if well_known:
                dirs.extend(_well_known_bin_dirs())
        return dirs

    def _find_binaries(self, kind: str, names: Sequence[str], *, well_known: bool) -> _Found:
        searched = []
        for directory in self._dirs(well_known=well_known):
            searched.append(str(directory))
            paths = {name: directory / name for name in names}
            if all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
                return _Found(kind, paths, searched)
        return _Found(kind, {}, searched)

    def _kafka_homes(self) -> list[Path]:
        homes: list[Path] = []
        if self.settings.kafka_home:
            homes.append(Path(self.settings.kafka_home).expanduser())
            if self._search_path is not None:
                return homes
        if self._search_path is not None:
            return homes + [p.parent for p in self._search_path]
        homes.extend(sorted(self.settings.cache_dir.glob("kafka-*"), key=_version_key, reverse=True))
        for var in ("KAFKA_HOME",):
            if os.environ.get(var):
                homes.append(Path(os.environ[var]))
        homes.append(Path("/opt/kafka"))
        return homes

    def _find_kafka(self) -> _Found:
        searched: list[str] = []
        libs: Path | None = None
        for home in self._kafka_homes():
            for candidate in (home / "libs", home):
                searched.append(str(candidate))
                if glob.glob(str(candidate / "kafka_*.jar")):
                    libs = candidate
                    break
            if libs is not None:
                break
        java_home = os.environ.get("JAVA_HOME")
        java: Path | None = None
        if java_home and self._search_path is None:
            candidate = Path(java_home) / "bin" / "java"
            searched.append(str(candidate.parent))
            if candidate.is_file():
                java = candidate
        if java is None:
            found = self._find_binaries("kafka", ["java"], well_known=False)
            searched.extend(found.searched)
            java = found.paths.get("java")
        paths = {}
        if libs is not None:
            paths["libs"] = libs
        if java is not None:
            paths["java"] = java
        return _Found("kafka", paths, searched)

    def _locate(self, kind: str) -> _Found:
        if kind == "postgres":
            return self._find_binaries(kind, ["initdb", "postgres"], well_known=True)
        if kind == "redis":
            return self._find_binaries(kind, ["redis-server"], well_known=True)
        if kind == "kafka":
            return self._find_kafka()
        raise ServiceError(
            ErrorCode.SVC_UNKNOWN_BACKEND, backend=f"local/{kind}", known="postgres, redis, kafka"
        )

    def _require(self, kind: str) -> dict[str, Path]:
        found = self._locate(kind)
        needed = {"postgres": ("postgres",), "redis": ("redis-server",), "kafka": ("libs", "java")}[kind]
        for item in needed:
            if item not in found.paths:
                binary = {
                    "postgres": "initdb/postgres",
                    "libs": "libs/kafka_*.jar (a Kafka home)",
                    "java": "java",
                }.get(item, item)
                install = INSTALL_HINTS["java" if item == "java" else kind]
                env_var = {
                    "libs": "INTEGRATION_KIT_KAFKA_HOME",
                    "java": "JAVA_HOME or INTEGRATION_KIT_LOCAL_PATH",
                }.get(item, "INTEGRATION_KIT_LOCAL_PATH")
                raise ServiceError(
                    ErrorCode.LOCAL_BINARY_NOT_FOUND,
                    binary=binary,
                    service=kind,
                    searched=", ".join(found.searched) or "(nowhere: empty search path)",
                    install=install,
                    env_var=env_var,
                )
        return found.paths

    def can_run(self, kind: str) -> tuple[bool, str]:
        """Whether the binaries for service ``kind`` are here, and where (or what is missing)."""
        try:
            paths = self._require(kind)
        except ServiceError as exc:
            return False, exc.message
        return True, ", ".join(f"{k}={v}" for k, v in paths.items())

    def available(self) -> tuple[bool, str]:
        reasons = []
        ok = True
        for kind in KINDS:
            can, why = self.can_run(kind)
            ok = ok and can
            reasons.append(f"{kind}: {why}")
        return ok, "; ".join(reasons)

    # -- lifecycle --

    def reap(self) -> int:
        """Stop and remove servers of dead runs, and half-written cache copies."""
        self._reaped = True
        removed = reap_stale(self.root)
        for tmp in (self.root / "spares").glob(".tmp-*"):
            if _older_than(tmp, 600):
                shutil.rmtree(tmp, ignore_errors=True)
        return removed

    def start(self, spec: ServiceSpec, *, timeout: float) -> LocalService:
        """Start ``spec`` and return once it answers a protocol-level request."""
        if not self._reaped:
            self.reap()
        paths = self._require(spec.kind)
        deadline = time.monotonic() + timeout
        attempts = self.settings.start_attempts
        for attempt in range(1, attempts + 1):
            try:
                if isinstance(spec, PostgresService):
                    return self._start_postgres(spec, paths, deadline)
                if isinstance(spec, RedisService):
                    return self._start_redis(spec, paths, deadline)
                if isinstance(spec, KafkaService):
                    return self._start_kafka(spec, paths, deadline)
            except ServiceError as exc:
                retry = exc.code is ErrorCode.SVC_PROCESS_EXITED and attempt < attempts
                if not retry or time.monotonic() >= deadline:
                    raise
                log.info("%s exited during start (attempt %d/%d); retrying", spec.kind, attempt, attempts)
        raise ServiceError(
            ErrorCode.SVC_UNKNOWN_BACKEND, backend=f"local/{spec.kind}", known=", ".join(KINDS)
        )

    def prepare(self, kinds: Sequence[str] = KINDS, *, timeout: float = 300.0) -> dict[str, str]:
        """Fill the caches so later starts are fast: start and stop each service once, then
        wait for the PostgreSQL spare and Kafka's class-data archive. Returns what was done."""
        specs = {"postgres": PostgresService(), "redis": RedisService(), "kafka": KafkaService()}
        done: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for kind in kinds:
            service = self.start(specs[kind], timeout=max(1.0, deadline - time.monotonic()))
            service.stop()
            done[kind] = service.data_source or "started"
            if service.archive_builder is not None:
                service.archive_builder.wait(timeout=max(1.0, deadline - time.monotonic()))
                done[kind] += ", class-data archive built"
        self.wait_background(max(1.0, deadline - time.monotonic()))
        return done

    def wait_background(self, timeout: float = 30.0) -> None:
        """Wait for background cache work (spare copies) to finish."""
        with self._background_lock:
            threads = list(self._background)
        end = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))

    # -- helpers --

    def _owner(self) -> int:
        return self.owner_pid if self.owner_pid is not None else os.getpid()

    def _port(self, spec: ServiceSpec) -> int:
        """``spec.port`` if it is free (``IK-SVC-PORT-IN-USE`` if not), else a free port."""
        wanted = getattr(spec, "port", None)
        if wanted is None:
            return free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, wanted))
            except OSError as exc:
                raise ServiceError(
                    ErrorCode.SVC_PORT_IN_USE, port=wanted, host=HOST, service=spec.key, cause=exc
                ) from exc
        return int(wanted)

    def _new_dir(self, kind: str) -> ServiceDir:
        service_dir = ServiceDir.create(self.root, kind)
        service_dir.write(pid=0, owner_pid=self._owner(), kind=kind, match="", started=time.time())
        return service_dir

    def _spawn(
        self,
        spec: ServiceSpec,
        endpoint: Endpoint,
        service_dir: ServiceDir,
        argv: list[str],
        *,
        match: str,
        stop_signal: int,
        user: _RunAs | None = None,
        env: Mapping[str, str] | None = None,
        record: Mapping[str, Any] | None = None,
    ) -> LocalService:
        log_path = service_dir.path / f"{spec.kind}.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=service_dir.path,
                start_new_session=True,
                env=dict(env) if env is not None else None,
                **(user.popen_kwargs() if user is not None else {}),
            )
        service_dir.write(
            pid=process.pid,
            owner_pid=self._owner(),
            kind=spec.kind,
            match=match,
            stop_signal=int(stop_signal),
            started=time.time(),
            port=endpoint.port,
            **(record or {}),
        )
        service = LocalService(
            spec=spec,
            endpoint=endpoint,
            service_dir=service_dir,
            process=process,
            log_path=log_path,
            stop_signal=stop_signal,
        )
        EXIT_GUARD.register(id(service), service.stop)
        return service

    def _wait_ready(
        self,
        service: LocalService,
        probe: Callable[[float], object],
        deadline: float,
        *,
        interval: float = _POLL_S,
    ) -> None:
        last: BaseException | None = None
        while True:
            assert service.process is not None
            returncode = service.process.poll()
            if returncode is not None:
                tail = service.log_tail()
                service.stop()
                raise ServiceError(
                    ErrorCode.SVC_PROCESS_EXITED,
                    service=service.spec.key,
                    returncode=returncode,
                    log_tail=tail,
                )
            remaining = deadline - time.monotonic()
            try:
                probe(max(0.05, min(1.0, remaining)))
                return
            except OSError as exc:
                last = exc
            if remaining <= 0:
                tail = service.log_tail()
                service.stop()
                raise ServiceError(
                    ErrorCode.SVC_NOT_HEALTHY,
                    service=service.spec.key,
                    timeout=max(0.0, remaining),
                    cause=f"{type(last).__name__}: {last}",
                    log_tail=tail,
                ) from last
            time.sleep(interval)

    def _in_background(self, name: str, work: Callable[[], None]) -> None:
        def run() -> None:
            block_exit_signals()  # SIGINT/SIGTERM must reach the main thread's handler
            try:
                work()
            except Exception:
                log.warning("background task %s failed", name, exc_info=True)

        thread = threading.Thread(target=run, name=f"ik-local-{name}", daemon=True)
        with self._background_lock:
            self._background = [t for t in self._background if t.is_alive()]
            if not self._background:
                atexit.register(self.wait_background)
            self._background.append(thread)
        thread.start()

    # -- PostgreSQL --

    def _postgres_cache_key(self, spec: PostgresService, postgres: Path) -> str:
        stat = postgres.resolve().stat()
        material = "|".join(
            [
                _CACHE_FORMAT,
                str(postgres.resolve()),
                str(stat.st_size),
                str(stat.st_mtime_ns),
                spec.user,
                spec.password,
                spec.database,
                str(os.getuid()),
                *INITDB_ARGS,
            ]
        )
        return hashlib.sha1(material.encode()).hexdigest()[:12]

    def _start_postgres(self, spec: PostgresService, paths: dict[str, Path], deadline: float) -> LocalService:
        run_as = _RunAs.for_postgres()
        key = self._postgres_cache_key(spec, paths["postgres"])
        cache = self.settings.cache_dir / "local" / f"postgres-{key}"
        run_as.check_reachable(self.root)
        port = self._port(spec)
        service_dir = self._new_dir("postgres")
        build: Path | None = None
        try:
            run_as.chown(service_dir.path)
            data = service_dir.path / "data"
            source = self._claim_spare(key, data)
            if source is None and (cache / "PG_VERSION").is_file():
                _copy_tree(cache, data)
                source = "cache"
            if source is None:
                build = self._initdb(spec, paths, run_as, deadline)
                try:
                    _copy_tree(build, data)
                except BaseException:
                    shutil.rmtree(build.parent, ignore_errors=True)
                    raise
                source = "initdb"
        except BaseException:
            service_dir.remove()
            raise
        argv = [str(paths["postgres"]), "-D", str(data), "-p", str(port), "-k", str(service_dir.path)]
        for name, value in POSTGRES_SETTINGS.items():
            argv += ["-c", f"{name}={value}"]
        endpoint = Endpoint(
            host=HOST, port=port, user=spec.user, password=spec.password, database=spec.database
        )
        service = self._spawn(
            spec, endpoint, service_dir, argv, match=str(data), stop_signal=signal.SIGQUIT, user=run_as
        )
        pidfile = data / "postmaster.pid"
        # A fresh cluster has no spec.database yet: probe "postgres", then create it.
        create_db = build is not None and spec.database not in _BUILTIN_DATABASES
        probe_db = "postgres" if create_db else spec.database

        def probe(timeout: float) -> None:
            lines = pidfile.read_text().splitlines() if pidfile.exists() else []
            if len(lines) < 8 or lines[7].strip() != "ready":
                raise _probes.ProbeError("postmaster.pid does not say ready yet")
            _probes.pg_query(HOST, port, user=spec.user, database=probe_db, timeout=timeout)

        service.data_source = source
        try:
            self._wait_ready(service, probe, deadline)
            if create_db:
                _probes.pg_query(
                    HOST,
                    port,
                    user=spec.user,
                    database="postgres",
                    sql=f'CREATE DATABASE "{spec.database}"',
                    timeout=max(1.0, deadline - time.monotonic()),
                )
        except BaseException:
            if build is not None:
                shutil.rmtree(build.parent, ignore_errors=True)
            service.stop()
            raise
        # Cache work only now, so that it does not compete with the start for the CPU.
        if build is not None:
            fresh = build
            self._in_background("pg-cache", lambda: self._store_cache(fresh, cache, key, spec, paths, run_as))
        else:
            self._in_background("pg-spare", lambda: self._make_spare(cache, key))
        log.debug("postgres ready on port %d from %s", port, source)
        return service

    def _initdb(
        self,
        spec: PostgresService,
        paths: dict[str, Path],
        run_as: _RunAs,
        deadline: float,
    ) -> Path:
        """initdb into a build directory (superuser ``spec.user``), for this run and the cache."""
        spares = self.root / "spares"
        spares.mkdir(exist_ok=True)
        build_root = spares / f".tmp-build-{uuid.uuid4().hex[:8]}"
        build_root.mkdir()
        run_as.chown(build_root)
        build = build_root / "data"
        pwfile = build_root / "pw"
        pwfile.write_text(spec.password + "\n")
        run_as.chown(pwfile)
        argv = [
            str(paths["initdb"]),
            "-D",
            str(build),
            "-U",
            spec.user,
            f"--pwfile={pwfile}",
            *INITDB_ARGS,
        ]
        try:
            self._run_tool(argv, run_as, deadline, what="initdb", cwd=build_root)
            pwfile.unlink()
        except BaseException:
            shutil.rmtree(build_root, ignore_errors=True)
            raise
        return build

    def _run_tool(
        self,
        argv: list[str],
        run_as: _RunAs,
        deadline: float,
        *,
        what: str,
        stdin: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        try:
            result = subprocess.run(
                argv,
                cwd=cwd,
                input=(stdin or "").encode(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=max(0.1, deadline - time.monotonic()),
                check=False,
                **run_as.popen_kwargs(),
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(
                ErrorCode.SVC_START_FAILED, service=what, cause="timed out", log_tail=_decode(exc.output)
            ) from exc
        output = _decode(result.stdout)
        if result.returncode != 0 or "ERROR:" in output:
            raise ServiceError(
                ErrorCode.SVC_START_FAILED,
                service=what,
                cause=f"exit code {result.returncode}",
                log_tail=output,
            )

    def _claim_spare(self, key: str, target: Path) -> str | None:
        spares = self.root / "spares"
        for spare in sorted(spares.glob(f"postgres-{key}-*")):
            try:
                os.rename(spare, target)
            except OSError:
                continue  # taken by another process, or on another file system
            return "spare"
        return None

    def _make_spare(self, cache: Path, key: str) -> None:
        spares = self.root / "spares"
        spares.mkdir(exist_ok=True)
        if list(spares.glob(f"postgres-{key}-*")) or not (cache / "PG_VERSION").is_file():
            return
        tmp = spares / f".tmp-postgres-{key}-{uuid.uuid4().hex[:8]}"
        _copy_tree(cache, tmp)
        tmp.rename(spares / f"postgres-{key}-{uuid.uuid4().hex[:8]}")

    def _store_cache(
        self,
        build: Path,
        cache: Path,
        key: str,
        spec: PostgresService,
        paths: dict[str, Path],
        run_as: _RunAs,
    ) -> None:
        try:
            if spec.database not in _BUILTIN_DATABASES:
                sql = f'CREATE DATABASE "{spec.database}";\n'
                argv = [str(paths["postgres"]), "--single", "-D", str(build), "-c", "fsync=off", "postgres"]
                deadline = time.monotonic() + 120
                self._run_tool(argv, run_as, deadline, what="postgres --single", stdin=sql, cwd=build.parent)
            if not (cache / "PG_VERSION").is_file():
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.parent / f".tmp-{cache.name}-{uuid.uuid4().hex[:8]}"
                _copy_tree(build, tmp)
                try:
                    tmp.rename(cache)
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)  # another process stored it first
            spares = self.root / "spares"
            spares.mkdir(exist_ok=True)
            if not list(spares.glob(f"postgres-{key}-*")):
                with contextlib.suppress(OSError):
                    build.rename(spares / f"postgres-{key}-{uuid.uuid4().hex[:8]}")
        finally:
            shutil.rmtree(build.parent, ignore_errors=True)

    # -- Redis --

    def _start_redis(self, spec: RedisService, paths: dict[str, Path], deadline: float) -> LocalService:
        port = self._port(spec)
        service_dir = self._new_dir("redis")
        argv = [
            str(paths["redis-server"]),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(service_dir.path),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--databases",
            "16",
        ]
        endpoint = Endpoint(host=HOST, port=port, database="0")
        # redis-server rewrites its process title to "redis-server 127.0.0.1:<port>".
        service = self._spawn(
            spec, endpoint, service_dir, argv, match=f"{HOST}:{port}", stop_signal=signal.SIGKILL
        )
        self._wait_ready(
            service, lambda t: _probes.redis_ping(HOST, port, timeout=t), deadline, interval=0.001
        )
        return service

    # -- Kafka --

    def _start_kafka(self, spec: KafkaService, paths: dict[str, Path], deadline: float) -> LocalService:
        libs, java = paths["libs"], paths["java"]
        jars = sorted(p.name for p in libs.glob("*.jar"))
        key = hashlib.sha1("|".join([_CACHE_FORMAT, str(libs), *jars]).encode()).hexdigest()[:12]
        cache = self.settings.cache_dir / "local" / f"kafka-{key}"
        service_dir = self._new_dir("kafka")
        try:
            port, controller_port = self._port(spec), free_port()
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
                _copy_tree(cache, data)
            else:
                source = "format"
                self._run_tool(
                    [
                        str(java),
                        *JVM_FLAGS,
                        "-cp",
                        classpath,
                        "kafka.tools.StorageTool",
                        "format",
                        "-t",
                        _kafka_cluster_id(key),
                        "-c",
                        str(properties),
                        "--ignore-formatted",
                    ],
                    _RunAs.current(),
                    deadline,
                    what="kafka storage format",
                )
                cache.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache.parent / f".tmp-{cache.name}-{uuid.uuid4().hex[:8]}"
                _copy_tree(data, tmp)
                try:
                    tmp.rename(cache)
                except OSError:
                    shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            service_dir.remove()
            raise
        archive_flags, record, stop_signal = _kafka_archive_flags(cache, java, classpath)
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
        service = self._spawn(
            spec, endpoint, service_dir, argv, match=str(properties), stop_signal=stop_signal, record=record
        )
        service.data_source = source
        self._wait_ready(
            service, lambda t: _probes.kafka_brokers(HOST, port, timeout=t), deadline, interval=0.02
        )
        self._roundtrip(service, deadline)
        return service

    def _roundtrip(self, service: LocalService, deadline: float) -> None:
        """Kafka's full health check (a message round trip), as the docker backend does."""
        from integration_kit.errors import HealthCheckError
        from integration_kit.services.probes import wait_ready

        try:
            wait_ready(service.spec.kind, service.endpoint, deadline=deadline)
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


# --- small helpers ------------------------------------------------------------------------


def _kafka_archive_flags(cache: Path, java: Path, classpath: str) -> tuple[list[str], dict[str, Any], int]:
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
    record = {"archive": {"classlist": str(classlist), "jsa": str(final), "java": str(java), "cp": classpath}}
    return [f"-XX:DumpLoadedClassList={classlist}"], record, signal.SIGKILL


def _finish_archive(record: Mapping[str, Any]) -> subprocess.Popen[bytes] | None:
    """After a recording Kafka stopped: build the class-data archive in the background."""
    archive = record.get("archive")
    if not isinstance(archive, Mapping):
        return None
    classlist, final = Path(archive["classlist"]), Path(archive["jsa"])
    try:
        if final.exists() or classlist.stat().st_size == 0:
            classlist.unlink()
            return None
    except OSError:
        return None
    partial = final.with_name(f".tmp-{final.name}-{uuid.uuid4().hex[:8]}")
    script = (
        'nice -n 10 "$1" -Xshare:dump -XX:SharedClassListFile="$2" -XX:SharedArchiveFile="$3" '
        '-cp "$4" >/dev/null 2>&1 && mv -f "$3" "$5"; rm -f "$2" "$3"'
    )
    return subprocess.Popen(
        ["sh", "-c", script, "sh", archive["java"], str(classlist), str(partial), archive["cp"], str(final)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kafka_cluster_id(key: str) -> str:
    """A stable 22-character base64 cluster id derived from the cache key."""
    import base64

    return base64.urlsafe_b64encode(hashlib.md5(key.encode()).digest()).decode()[:22]


def _decode(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode(errors="replace")


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


#: Copies in flight (``cp`` processes and their targets), stopped with the process.
_COPIES: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
_COPIES_LOCK = threading.Lock()


def _abort_copies() -> None:
    """Kill copies still running (at exit or on a signal) and remove what they wrote."""
    with _COPIES_LOCK:
        copies = list(_COPIES.values())
        _COPIES.clear()
    for process, target in copies:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        shutil.rmtree(target, ignore_errors=True)


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a directory keeping modes and owners (``cp -a``; shutil where there is no cp).

    A copy still running when this process exits or gets SIGINT/SIGTERM is killed and its
    target removed, so no orphaned ``cp`` writes into directories after their owner is gone.
    """
    cp = shutil.which("cp")
    if cp is None:
        shutil.copytree(source, target, symlinks=True)
        return
    process = subprocess.Popen(
        [cp, "-a", str(source), str(target)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with _COPIES_LOCK:
        _COPIES[process.pid] = (process, target)
    EXIT_GUARD.register(id(_COPIES), _abort_copies)
    try:
        _, stderr = process.communicate()
    finally:
        with _COPIES_LOCK:
            _COPIES.pop(process.pid, None)
    if process.returncode == 0:
        return
    shutil.rmtree(target, ignore_errors=True)
    raise ServiceError(
        ErrorCode.SVC_START_FAILED,
        service=f"copy of {source}",
        cause=_decode(stderr).strip() or f"cp exit code {process.returncode}",
    )


@dataclass(frozen=True)
class _RunAs:
    """The user a server runs as: the current one, or a non-root one when we are root."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def current(cls) -> _RunAs:
        return cls()

    @classmethod
    def for_postgres(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid)
        raise ServiceError(
            ErrorCode.SVC_START_FAILED,
            service="postgres",
            cause="running as root and no 'postgres' or 'nobody' user exists (PostgreSQL refuses root)",
        )

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def check_reachable(self, path: Path) -> None:
        """Raise unless this user can traverse every directory above ``path``."""
        if self.uid is None:
            return
        for parent in [path, *path.parents]:
            st = parent.stat()
            if st.st_uid == self.uid:
                bit = 0o100
            elif st.st_gid == self.gid:
                bit = 0o010
            else:
                bit = 0o001
            if not st.st_mode & bit:
                raise ServiceError(
                    ErrorCode.SVC_START_FAILED,
                    service="postgres",
                    cause=f"{parent} is not searchable by uid {self.uid}, the user PostgreSQL runs "
                    "as (it refuses to run as root)",
                    hint="Set INTEGRATION_KIT_RUNTIME_DIR to a directory that user can reach "
                    "(the default under /dev/shm or the temp dir is).",
                )

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m integration_kit.services.backends.local prepare``: fill the local caches."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m integration_kit.services.backends.local")
    parser.add_argument("command", choices=["prepare"])
    parser.add_argument("--kinds", default=",".join(KINDS), help="services to prepare (default: all)")
    args = parser.parse_args(argv)
    backend = LocalBackend()
    kinds = [kind for kind in args.kinds.split(",") if kind]
    missing = [kind for kind in kinds if not backend.can_run(kind)[0]]
    for kind in missing:
        print(f"{kind}: skipped: {backend.can_run(kind)[1]}")
    for kind, done in backend.prepare([k for k in kinds if k not in missing]).items():
        print(f"{kind}: {done}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
