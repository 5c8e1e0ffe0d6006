"""Finding the binaries the local backend runs, by service kind and version.

* PostgreSQL: ``initdb`` + ``postgres`` in ``Settings.local_path``, then PATH, then the
  well-known install directories (``/usr/lib/postgresql/<major>/bin``...).
* Redis: ``redis-server`` in the same places.
* Kafka: a Kafka home (a directory with ``libs/kafka_*.jar``) from
  ``Settings.kafka_home``, the cache directory (``kafka-<version>``, as
  ``scripts/provision.sh`` puts them), ``KAFKA_HOME`` or ``/opt/kafka``; plus ``java``.

The version a spec asks for is real: a directory holding another version is passed
over, and when no directory holds the version, ``IK-SVC-VERSION-UNAVAILABLE`` lists the
versions that were found.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.base import ServiceSpec
from integration_kit.services.versions import version_key, version_matches

KINDS = ("postgres", "redis", "kafka")

INSTALL_HINTS = {
    "postgres": "apt-get install postgresql (Debian/Ubuntu), brew install postgresql@15 (macOS)",
    "redis": "apt-get install redis-server (Debian/Ubuntu), brew install redis (macOS)",
    "java": "apt-get install openjdk-17-jre-headless (Debian/Ubuntu), brew install openjdk@17 (macOS)",
    "kafka": "bash scripts/provision.sh (puts a Kafka home under the cache dir) or unpack a "
    "Kafka 4.x release",
}
_WELL_KNOWN = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/usr/local/pgsql/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/opt/homebrew/bin",
    "/usr/local/opt/postgresql@*/bin",
)
_VERSION = re.compile(r"(?:\(PostgreSQL\)|v=)\s*(\d+(?:\.\d+)*)")
_KAFKA_JAR = re.compile(r"^kafka_[\d.]+-(\d+(?:\.\d+)*)\.jar$")


@functools.lru_cache(maxsize=64)
def binary_version(path: Path) -> str | None:
    """The version ``path --version`` reports (``postgres (PostgreSQL) 15.18`` -> ``15.18``;
    ``Redis server v=7.0.15`` -> ``7.0.15``), or None."""
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return match.group(1) if match else None


def kafka_version(libs: Path) -> str | None:
    """The Kafka version of a ``libs`` directory, from its ``kafka_<scala>-<version>.jar``."""
    for jar in sorted(libs.glob("kafka_*.jar")):
        match = _KAFKA_JAR.match(jar.name)
        if match:
            return match.group(1)
    return None


@dataclass(frozen=True)
class Found:
    """What a search found: ``paths`` by role (``postgres``, ``libs``, ``java``...), the
    version of the chosen directory, and every place and version seen."""

    kind: str
    paths: dict[str, Path]
    searched: list[str]
    version: str | None = None
    seen_versions: tuple[str, ...] = ()


class Binaries:
    """Where the local backend finds its programs. ``search_path`` replaces PATH and the
    well-known directories (``Settings.local_path`` is always searched first)."""

    def __init__(self, settings: Settings, search_path: Sequence[Path | str] | None = None) -> None:
        self.settings = settings
        self.search_path = None if search_path is None else [Path(p) for p in search_path]

    def dirs(self, *, well_known: bool) -> list[Path]:
        dirs: list[Path] = []
        if self.settings.local_path:
            dirs.extend(Path(p).expanduser() for p in self.settings.local_path.split(os.pathsep) if p)
        if self.search_path is not None:
            return dirs + self.search_path
        dirs.extend(Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p)
        if well_known:
            for pattern in _WELL_KNOWN:
                dirs.extend(Path(p) for p in sorted(glob.glob(pattern), key=version_key, reverse=True))
        return dirs

    def _programs(self, kind: str, names: Sequence[str], version: str | None, *, well_known: bool) -> Found:
        searched: list[str] = []
        seen: list[str] = []
        for directory in self.dirs(well_known=well_known):
            searched.append(str(directory))
            paths = {name: directory / name for name in names}
            if not all(p.is_file() and os.access(p, os.X_OK) for p in paths.values()):
                continue
            actual = binary_version(paths[names[-1]])
            if version is None or (actual is not None and version_matches(version, actual)):
                return Found(kind, paths, searched, actual, tuple(seen))
            if not any(label.startswith(f"{actual or 'unknown'} (") for label in seen):
                seen.append(f"{actual or 'unknown'} ({directory})")
        return Found(kind, {}, searched, None, tuple(seen))

    def kafka_homes(self) -> list[Path]:
        homes: list[Path] = []
        if self.settings.kafka_home:
            homes.append(Path(self.settings.kafka_home).expanduser())
        if self.search_path is not None:
            return homes + [p.parent for p in self.search_path]
        cached = self.settings.cache_dir.glob("kafka-*")
        homes.extend(
            sorted((p for p in cached if p.is_dir()), key=lambda p: version_key(p.name), reverse=True)
        )
        if os.environ.get("KAFKA_HOME"):
            homes.append(Path(os.environ["KAFKA_HOME"]))
        homes.append(Path("/opt/kafka"))
        return homes

    def _kafka(self, version: str | None) -> Found:
        searched: list[str] = []
        seen: list[str] = []
        libs: Path | None = None
        chosen: str | None = None
        for home in self.kafka_homes():
            for candidate in (home / "libs", home):
                searched.append(str(candidate))
                if not glob.glob(str(candidate / "kafka_*.jar")):
                    continue
                actual = kafka_version(candidate)
                if version is None or (actual is not None and version_matches(version, actual)):
                    libs, chosen = candidate, actual
                else:
                    if not any(label.startswith(f"{actual or 'unknown'} (") for label in seen):
                        seen.append(f"{actual or 'unknown'} ({candidate})")
                break
            if libs is not None:
                break
        java: Path | None = None
        java_home = os.environ.get("JAVA_HOME")
        if java_home and self.search_path is None:
            candidate = Path(java_home) / "bin" / "java"
            searched.append(str(candidate.parent))
            if candidate.is_file():
                java = candidate
        if java is None:
            for directory in self.dirs(well_known=False):
                searched.append(str(directory))
                if (directory / "java").is_file() and os.access(directory / "java", os.X_OK):
                    java = directory / "java"
                    break
        paths = {"libs": libs, "java": java}
        return Found(
            "kafka", {k: v for k, v in paths.items() if v is not None}, searched, chosen, tuple(seen)
        )

    def locate(self, kind: str, version: str | None) -> Found:
        if kind == "postgres":
            return self._programs(kind, ["initdb", "postgres"], version, well_known=True)
        if kind == "redis":
            return self._programs(kind, ["redis-server"], version, well_known=True)
        if kind == "kafka":
            return self._kafka(version)
        raise ServiceError(
            ErrorCode.SVC_UNKNOWN_KIND, backend="local", kind=kind, service=kind, known=", ".join(KINDS)
        )

    def require(self, spec: ServiceSpec) -> Found:
        """The programs for ``spec`` (its kind and version); coded errors name what is missing."""
        version = getattr(spec, "version", None)
        found = self.locate(spec.kind, version)
        needed = {"postgres": ("postgres",), "redis": ("redis-server",), "kafka": ("libs", "java")}[spec.kind]
        for item in needed:
            if item in found.paths:
                continue
            if item != "java" and found.seen_versions:
                raise ServiceError(
                    ErrorCode.SVC_VERSION_UNAVAILABLE,
                    backend="local",
                    kind=spec.kind,
                    version=version,
                    service=spec.key,
                    available=", ".join(found.seen_versions),
                    provide=_PROVIDE[spec.kind],
                )
            raise ServiceError(
                ErrorCode.LOCAL_BINARY_NOT_FOUND,
                binary={"postgres": "initdb/postgres", "libs": "libs/kafka_*.jar (a Kafka home)"}.get(
                    item, item
                ),
                service=spec.kind,
                searched=", ".join(found.searched) or "(nowhere: empty search path)",
                install=INSTALL_HINTS["java" if item == "java" else spec.kind],
                env_var={
                    "libs": "INTEGRATION_KIT_KAFKA_HOME",
                    "java": "JAVA_HOME or INTEGRATION_KIT_LOCAL_PATH",
                }.get(item, "INTEGRATION_KIT_LOCAL_PATH"),
            )
        return found


_PROVIDE = {
    "postgres": "install that major's server (its bin directory, e.g. /usr/lib/postgresql/<major>/bin, "
    "is searched) or put it on INTEGRATION_KIT_LOCAL_PATH",
    "redis": "put a redis-server of that version on INTEGRATION_KIT_LOCAL_PATH",
    "kafka": "unpack that Kafka release as <cache_dir>/kafka-<version> (scripts/provision.sh does) "
    "or set INTEGRATION_KIT_KAFKA_HOME",
}
