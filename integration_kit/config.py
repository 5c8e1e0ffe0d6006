"""Settings: one frozen object, resolved as keyword > CLI > environment > pyproject > default.

Every setting ``name`` is read from the keyword ``name``, the CLI option
``--ik-name`` (given here as a mapping), the environment variable
``INTEGRATION_KIT_<NAME>`` and ``[tool.integration_kit] name`` in ``pyproject.toml``.
The environment beats the file, as in pytest, tox and twelve-factor tools: a CI job
overrides a project's settings without editing it.
Unknown keys, unknown ``INTEGRATION_KIT_*`` variables (with a did-you-mean) and invalid
values (nan, inf, negatives...) raise :class:`~integration_kit.errors.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from integration_kit.errors import ConfigError, ErrorCode
from integration_kit.metrics.settings import DEFAULT_QUARANTINE_FILE
from integration_kit.metrics.settings import PARSERS as SUITE_PARSERS

ENV_PREFIX = "INTEGRATION_KIT_"
BACKENDS = ("auto", "docker", "local", "external")


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _parse_positive_float(raw: Any) -> float:
    """A finite number > 0 (nan, inf and negatives would make a deadline that never comes)."""
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(raw)
    return value


def _parse_positive_int(raw: Any) -> int:
    """An integer >= 1 (``2.5`` is refused, not truncated)."""
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise ValueError(raw)
    value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _parse_backend(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in BACKENDS:
        raise ValueError(raw)
    return text


def _parse_optional_str(raw: Any) -> str | None:
    if raw is None:
        return None
    text = str(raw).strip()
    return text or None


def _parse_optional_seed(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError(raw)
    value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    if value < 0:
        raise ValueError(raw)
    return value


def _parse_optional_path(raw: Any) -> Path | None:
    if raw is None or not str(raw).strip():
        return None
    return Path(str(raw).strip()).expanduser()


def _parse_redis_databases(raw: Any) -> tuple[int, ...]:
    """``"1-8"``, ``"1,3,5-7"`` (or a list of ints) -> sorted unique database indexes."""
    from integration_kit.services.namespace import parse_redis_databases

    return parse_redis_databases(raw)


def _parse_topic_prefix(raw: Any) -> str | None:
    from integration_kit.services.namespace import check_topic_prefix

    text = _parse_optional_str(raw)
    return None if text is None else check_topic_prefix(text)


def _parse_path(raw: Any) -> Path:
    text = str(raw).strip()
    if not text:
        raise ValueError(raw)
    return Path(text).expanduser()


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "integration-kit"


@dataclass(frozen=True)
class _Field:
    parse: Callable[[Any], Any]
    expected: str


_PARSERS: dict[str, _Field] = {
    "backend": _Field(_parse_backend, "one of " + ", ".join(BACKENDS)),
    "postgres_image": _Field(str, "an image reference"),
    "redis_image": _Field(str, "an image reference"),
    "kafka_image": _Field(str, "an image reference"),
    "postgres_url": _Field(_parse_optional_str, "a postgresql:// URL"),
    "redis_url": _Field(_parse_optional_str, "a redis:// URL"),
    "kafka_bootstrap_servers": _Field(_parse_optional_str, "host:port[,host:port...]"),
    "kafka_home": _Field(_parse_optional_str, "a directory holding libs/*.jar"),
    "kafka_topic_prefix": _Field(
        _parse_topic_prefix,
        "a topic-name prefix with {run} and {worker}, else of [A-Za-z0-9._-] (e.g. ik.{run}.{worker}.)",
    ),
    "redis_databases": _Field(
        _parse_redis_databases,
        'database indexes and ascending ranges, e.g. "1-8" or "1,3,5-7" (each 0-65535)',
    ),
    "local_path": _Field(_parse_optional_str, "directories separated by os.pathsep"),
    "runtime_dir": _Field(_parse_optional_path, "a directory path"),
    "start_timeout": _Field(_parse_positive_float, "a number of seconds > 0"),
    "start_attempts": _Field(_parse_positive_int, "an integer >= 1"),
    "cache_dir": _Field(_parse_path, "a directory path"),
    "allow_pull": _Field(_parse_bool, "true or false"),
    "metrics": _Field(_parse_bool, "true or false"),
    "metrics_db": _Field(_parse_optional_path, "a file path (relative paths are under the rootdir)"),
    "seed": _Field(_parse_optional_seed, "an integer >= 0"),
    "reuse": _Field(_parse_bool, "true or false"),
    "reuse_idle_timeout": _Field(_parse_positive_float, "a number of seconds > 0"),
    "snapshot_keep": _Field(_parse_positive_int, "an integer >= 1"),
    "keep_failed": _Field(_parse_bool, "true or false"),
    "contracts_dir": _Field(_parse_optional_path, "a directory (relative paths are under the rootdir)"),
    "quarantine_file": _Field(_parse_path, "a file path (relative paths are under the rootdir)"),
    "leak_check": _Field(_parse_bool, "true or false"),
    "gc_freeze": _Field(_parse_bool, "true or false"),
    "shard_window": _Field(_parse_positive_int, "an integer >= 1"),
    # metrics and suite layers (notify, shuffle, lint_folders, shard, shard_by): parsed there
    **{name: _Field(parse, expected) for name, (parse, expected, _) in SUITE_PARSERS.items()},
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The kit's settings. Build it with :func:`load_settings`, not by hand."""

    backend: str = "auto"
    postgres_image: str = "postgres:15"
    redis_image: str = "redis:7"
    kafka_image: str = "apache/kafka:4.1.1"
    postgres_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    kafka_home: str | None = None
    #: Prefix of every topic the kit creates ({run}: this run's id, {worker}: main or gwN).
    #: None: ``ik.{run}.{worker}.`` on the external backend, the worker's ``gwN.`` elsewhere.
    kafka_topic_prefix: str | None = None
    #: The Redis databases the kit may use (and empty) on a server: worker N gets the Nth.
    redis_databases: tuple[int, ...] = tuple(range(1, 16))
    #: Extra directories searched first for local binaries (initdb, postgres, redis-server, java).
    local_path: str | None = None
    #: Where the local backend and xdist coordination keep pid files, run state and data
    #: (default: /dev/shm/integration-kit-<uid> where /dev/shm exists, else the temp dir).
    runtime_dir: Path | None = None
    start_timeout: float = 60.0
    start_attempts: int = 2
    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    allow_pull: bool = False
    metrics: bool = True
    metrics_db: Path | None = None
    #: The run seed of test data (factories, Faker); None: a new random seed per run.
    seed: int | None = None
    #: Keep services warm across runs and reuse them (see docs/reuse.md); off in CI.
    reuse: bool = False
    #: Seconds a warm service set stays up without a run using it.
    reuse_idle_timeout: float = 1800.0
    #: Keyed snapshot databases kept per test class on a warm server.
    snapshot_keep: int = 3
    #: Keep a failing test's database, topics and Redis keys to inspect them.
    keep_failed: bool = False
    #: The contracts directory of the ``ik_contracts`` fixture (the pytest ini key
    #: ``ik_contracts_dir`` still works, below this setting).
    contracts_dir: Path | None = None
    # metrics and suite layers (parsers of the special ones in integration_kit/metrics/settings.py)
    notify: tuple[str, ...] = ()
    quarantine_file: Path = DEFAULT_QUARANTINE_FILE
    shuffle: str = "off"
    leak_check: bool = False
    #: Freeze the objects alive after collection out of the garbage collector's reach.
    gc_freeze: bool = True
    lint_folders: tuple[tuple[str, str], ...] = ()
    shard: str | None = None
    shard_by: str = "test"
    shard_window: int = 10

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (validated like any other source)."""
        parsed = _parse_mapping(changes, "keyword")
        return dataclasses.replace(self, **parsed)


SETTING_NAMES = tuple(f.name for f in fields(Settings))
assert set(SETTING_NAMES) == set(_PARSERS), "every setting needs a parser"


def _parse_mapping(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        spec = _PARSERS.get(key)
        if spec is None:
            raise ConfigError(
                ErrorCode.CONFIG_UNKNOWN_KEY,
                key=key,
                source=source,
                suggestion=_did_you_mean(str(key), SETTING_NAMES),
                known=", ".join(SETTING_NAMES),
            )
        try:
            parsed[key] = spec.parse(raw)
            problem = path_problem(parsed[key]) if key in DIRECTORY_SETTINGS and parsed[key] else None
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                ErrorCode.CONFIG_INVALID_VALUE,
                key=key,
                value=raw,
                source=source,
                expected=spec.expected,
            ) from exc
        if problem is not None:  # a file where a directory must go: told now, not at first use
            path = parsed[key]
            raise ConfigError(
                ErrorCode.CONFIG_UNUSABLE_PATH, key=key, path=path, problem=problem, env=env_name(key)
            )
    return parsed


#: ``INTEGRATION_KIT_*`` variables that are not settings: read by the repository's scripts
#: (written to ``.integration-kit/env`` by provisioning), never by the package.
SCRIPT_VARIABLES: dict[str, str] = {
    "INTEGRATION_KIT_UV": "the uv binary (scripts/lock.sh, scripts/ranges.sh)",
    "INTEGRATION_KIT_KAFKA_VERSION": "the Kafka release provisioned (scripts/provision.sh)",
    "INTEGRATION_KIT_EXTRA_KAFKA_VERSION": "the second Kafka release provisioned (scripts/provision.sh)",
}


def env_name(key: str) -> str:
    """The environment variable of setting ``key``: ``INTEGRATION_KIT_<KEY>``."""
    return ENV_PREFIX + key.upper()


def known_variables() -> frozenset[str]:
    """Every ``INTEGRATION_KIT_*`` name the kit or its scripts read."""
    return frozenset({*(env_name(key) for key in SETTING_NAMES), *SCRIPT_VARIABLES})


def _did_you_mean(word: str, known: tuple[str, ...], prefix: str = "") -> str:
    """``"Did you mean X or Y? "`` for the names of ``known`` closest to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, known, n=3, cutoff=0.6)
    return "Did you mean " + " or ".join(prefix + c for c in close) + "? " if close else ""


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    known = known_variables()
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in SCRIPT_VARIABLES:
            continue
        if name not in known:
            suffixes = tuple(sorted(v[len(ENV_PREFIX) :] for v in known))
            raise ConfigError(
                ErrorCode.CONFIG_UNKNOWN_ENV,
                name=name,
                suggestion=_did_you_mean(name[len(ENV_PREFIX) :], suffixes, ENV_PREFIX),
                known=", ".join(sorted(env_name(key) for key in SETTING_NAMES)),
            )
        values[name[len(ENV_PREFIX) :].lower()] = raw
    return _parse_mapping(values, "environment")


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _from_pyproject(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    table = data.get("tool", {}).get("integration_kit", {})
    return _parse_mapping(table, str(path))


def load_settings(
    *,
    cli: Mapping[str, Any] | None = None,
    pyproject: Path | None = None,
    environ: Mapping[str, str] | None = None,
    rootdir: Path | None = None,
    **keywords: Any,
) -> Settings:
    """Resolve settings: keyword > ``cli`` > environment > pyproject > default.

    ``cli`` values of ``None`` mean "not given". ``pyproject`` defaults to the nearest
    ``pyproject.toml`` above ``rootdir`` (default: the current directory).
    """
    env_values = _from_env(os.environ if environ is None else environ)
    if pyproject is None:
        pyproject = find_pyproject(rootdir if rootdir is not None else Path.cwd())
    project_values = _from_pyproject(pyproject)
    cli_values = _parse_mapping({k: v for k, v in (cli or {}).items() if v is not None}, "command line")
    keyword_values = _parse_mapping(keywords, "keyword")
    merged = {**project_values, **env_values, **cli_values, **keyword_values}
    return Settings(**merged)


#: Settings naming a directory the kit creates and writes to.
DIRECTORY_SETTINGS = ("runtime_dir", "cache_dir")


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a directory (it is a file, or one above it is), else None."""
    if path.exists() and not path.is_dir():
        return "it is a file, not a directory"
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} above it is a file, not a directory"
    return None


def ensure_directory(path: Path, key: str) -> Path:
    """``path`` (the directory setting ``key`` names) created if missing and proven writable by
    writing a file into it; else ``IK-CONFIG-UNUSABLE-PATH`` (never a raw ``FileExistsError``)."""
    problem = path_problem(path)
    if problem is None:
        try:
            path.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".ik-writable-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            problem = f"not writable ({exc.strerror or exc})"
    if problem is not None:
        raise ConfigError(
            ErrorCode.CONFIG_UNUSABLE_PATH, key=key, path=path, problem=problem, env=env_name(key)
        )
    return path
