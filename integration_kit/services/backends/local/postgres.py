"""PostgreSQL on the local backend: ``initdb`` once, then copies of the cached cluster.

The initialized data directory is cached under ``Settings.cache_dir`` (keyed by the
``postgres`` binary, so each version has its own); a spare copy is kept ready in the
runtime root so the next start only renames it and launches ``postgres`` (fsync,
synchronous_commit and full_page_writes off), polling ``postmaster.pid`` every 2 ms.
Runs as the ``postgres`` user (or ``nobody``) when started by root, since PostgreSQL
refuses to run as root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from integration_kit.services import readiness
from integration_kit.services.backends.local.files import RunAs, copy_tree, run_tool, store_copy
from integration_kit.services.backends.local.server import LocalService, new_dir, spawn, wait_ready
from integration_kit.services.base import Endpoint, PostgresService
from integration_kit.services.ports import HOST, claim_port
from integration_kit.services.runtime import log

if TYPE_CHECKING:
    from integration_kit.services.backends.local.backend import LocalBackend

_CACHE_FORMAT = "1"
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


def _cache_key(spec: PostgresService, postgres: Path) -> str:
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


def start(
    backend: LocalBackend, spec: PostgresService, paths: Mapping[str, Path], deadline: float
) -> LocalService:
    run_as = RunAs.for_postgres()
    key = _cache_key(spec, paths["postgres"])
    cache = backend.settings.cache_dir / "local" / f"postgres-{key}"
    run_as.check_reachable(backend.root)
    port = claim_port(spec.port, service=spec.key)
    service_dir = new_dir(backend.root, "postgres", backend.owner)
    build: Path | None = None
    try:
        run_as.chown(service_dir.path)
        data = service_dir.path / "data"
        source = _claim_spare(backend, key, data)
        if source is None and (cache / "PG_VERSION").is_file():
            copy_tree(cache, data)
            source = "cache"
        if source is None:
            build = _initdb(backend, spec, paths, run_as, deadline)
            try:
                copy_tree(build, data)
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
    endpoint = Endpoint(host=HOST, port=port, user=spec.user, password=spec.password, database=spec.database)
    service = spawn(
        spec,
        endpoint,
        service_dir,
        argv,
        owner=backend.owner,
        match=str(data),
        stop_signal=signal.SIGQUIT,
        user=run_as,
    )
    pidfile = data / "postmaster.pid"
    # A fresh cluster has no spec.database yet: probe "postgres", then create it.
    create_db = build is not None and spec.database not in _BUILTIN_DATABASES
    probe_db = "postgres" if create_db else spec.database

    def probe(timeout: float) -> None:
        lines = pidfile.read_text().splitlines() if pidfile.exists() else []
        if len(lines) < 8 or lines[7].strip() != "ready":
            raise readiness.ProbeError("postmaster.pid does not say ready yet")
        readiness.pg_query(HOST, port, user=spec.user, database=probe_db, timeout=timeout)

    service.data_source = source
    try:
        wait_ready(service, probe, deadline)
        if create_db:
            readiness.pg_query(
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
        backend.in_background(
            "pg-cache", lambda: _store_cache(backend, fresh, cache, key, spec, paths, run_as)
        )
    else:
        backend.in_background("pg-spare", lambda: _make_spare(backend, cache, key))
    log.debug("postgres ready on port %d from %s", port, source)
    return service


def _initdb(
    backend: LocalBackend,
    spec: PostgresService,
    paths: Mapping[str, Path],
    run_as: RunAs,
    deadline: float,
) -> Path:
    """initdb into a build directory (superuser ``spec.user``), for this run and the cache."""
    spares = backend.root / "spares"
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
        run_tool(argv, run_as, deadline, what="initdb", cwd=build_root)
        pwfile.unlink()
    except BaseException:
        shutil.rmtree(build_root, ignore_errors=True)
        raise
    return build


def _claim_spare(backend: LocalBackend, key: str, target: Path) -> str | None:
    spares = backend.root / "spares"
    for spare in sorted(spares.glob(f"postgres-{key}-*")):
        try:
            os.rename(spare, target)
        except OSError:
            continue  # taken by another process, or on another file system
        return "spare"
    return None


def _make_spare(backend: LocalBackend, cache: Path, key: str) -> None:
    spares = backend.root / "spares"
    spares.mkdir(exist_ok=True)
    if list(spares.glob(f"postgres-{key}-*")) or not (cache / "PG_VERSION").is_file():
        return
    tmp = spares / f".tmp-postgres-{key}-{uuid.uuid4().hex[:8]}"
    copy_tree(cache, tmp)
    tmp.rename(spares / f"postgres-{key}-{uuid.uuid4().hex[:8]}")


def _store_cache(
    backend: LocalBackend,
    build: Path,
    cache: Path,
    key: str,
    spec: PostgresService,
    paths: Mapping[str, Path],
    run_as: RunAs,
) -> None:
    try:
        if spec.database not in _BUILTIN_DATABASES:
            sql = f'CREATE DATABASE "{spec.database}";\n'
            argv = [str(paths["postgres"]), "--single", "-D", str(build), "-c", "fsync=off", "postgres"]
            deadline = time.monotonic() + 120
            run_tool(argv, run_as, deadline, what="postgres --single", stdin=sql, cwd=build.parent)
        if not (cache / "PG_VERSION").is_file():
            store_copy(build, cache)  # kept as is when another process stored it first
        spares = backend.root / "spares"
        spares.mkdir(exist_ok=True)
        if not list(spares.glob(f"postgres-{key}-*")):
            with contextlib.suppress(OSError):
                build.rename(spares / f"postgres-{key}-{uuid.uuid4().hex[:8]}")
    finally:
        shutil.rmtree(build.parent, ignore_errors=True)
