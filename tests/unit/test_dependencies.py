"""dependencies.py: the ranges come from pyproject, and a package outside them is a coded error."""

from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from integration_kit import dependencies
from integration_kit.errors import DependencyError, ErrorCode, raises_code

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    dependencies.require.cache_clear()
    yield
    dependencies.require.cache_clear()


def _pyproject_ranges() -> dict[str, tuple[str, str | None]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ranges: dict[str, tuple[str, str | None]] = {}
    for extra, lines in [(None, project["dependencies"]), *project["optional-dependencies"].items()]:
        for line in lines:
            req = Requirement(line)
            if req.name != "integration-kit":
                ranges[req.name.lower()] = (str(req.specifier), extra)
    return ranges


def test_the_declarations_are_pyproject_s() -> None:
    found = {
        d.requirement.name.lower(): (str(d.requirement.specifier), d.extra) for d in dependencies.declared()
    }
    assert found == _pyproject_ranges()


def test_an_installed_package_in_range_gives_its_version() -> None:
    assert dependencies.require("aiokafka", feature="the Kafka layer") == metadata.version("aiokafka")


def test_a_missing_package_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = metadata.version

    def version(name: str) -> str:
        if name == "testcontainers":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)
    with raises_code(ErrorCode.DEP_MISSING) as caught:
        dependencies.require("testcontainers", feature="the docker backend")
    error = caught[0]
    assert isinstance(error, ImportError)
    assert error.context["extra"] == "docker"
    assert "integration-kit[docker]" in error.hint
    assert error.context["requirement"].startswith("testcontainers")


@pytest.mark.parametrize("installed", ["0.10.2", "0.15.0"])
def test_a_version_outside_the_range_is_refused(monkeypatch: pytest.MonkeyPatch, installed: str) -> None:
    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: installed if name == "aiokafka" else real(name))
    with raises_code(ErrorCode.DEP_UNSUPPORTED_VERSION) as caught:
        dependencies.require("aiokafka", feature="the Kafka layer")
    assert caught[0].context["installed"] == installed
    assert ">=0.11" in caught[0].context["requirement"]


def _fake_distribution(root: Path, name: str, version: str) -> None:
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_importing_a_layer_with_a_too_old_driver_fails_at_the_import(tmp_path: Path) -> None:
    """End to end: metadata of an old aiokafka first on sys.path, as a project pin would."""
    _fake_distribution(tmp_path, "aiokafka", "0.10.0")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from integration_kit.errors import DependencyError\n"
        "try:\n    import integration_kit.kafka\n"
        "except DependencyError as exc:\n"
        "    print(exc.code.value, exc.context['installed'])\n"
        "    raise SystemExit(3)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.split() == ["IK-DEP-UNSUPPORTED-VERSION", "0.10.0"]


def test_the_docker_backend_reports_a_missing_package_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from integration_kit.config import Settings
    from integration_kit.services.backends.docker import DockerBackend

    def missing(package: str, *, feature: str) -> str:
        raise DependencyError(
            ErrorCode.DEP_MISSING, feature=feature, package=package, requirement=package, extra="docker"
        )

    monkeypatch.setattr("integration_kit.services.backends.docker.backend.require", missing)
    ok, why = DockerBackend(Settings()).available()
    assert not ok
    assert why.startswith("the docker backend needs the package docker"), why


def test_the_docker_backend_never_falls_back_over_an_unsupported_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from integration_kit.config import Settings
    from integration_kit.services.backends.docker import DockerBackend

    def too_old(package: str, *, feature: str) -> str:
        raise DependencyError(
            ErrorCode.DEP_UNSUPPORTED_VERSION,
            feature=feature,
            package=package,
            requirement="x>=9",
            installed="1",
        )

    monkeypatch.setattr("integration_kit.services.backends.docker.backend.require", too_old)
    with raises_code(ErrorCode.DEP_UNSUPPORTED_VERSION):
        DockerBackend(Settings()).available()


def test_the_report_checks_every_range_of_the_extras() -> None:
    lines, ok = dependencies.report(["all", "test"])  # installed in every venv the suite runs in
    assert ok, "\n".join(lines)
    names = {line.split()[0].lower() for line in lines}
    assert {"aiokafka", "asyncpg", "fakeredis", "testcontainers", "pytest-xdist"} <= names
    assert "tox" not in names
    assert {line.split()[0].lower() for line in dependencies.report(["dev"])[0]} >= {
        "tox",
        "ruff",
        "aiokafka",
    }
    core_only, _ = dependencies.report([])
    assert {line.split()[0].lower() for line in core_only} == {
        "pytest",
        "pytest-asyncio",
        "rich",
        "click",
        "packaging",
    }


def test_the_redis_mock_supports_exactly_the_declared_fakeredis_range() -> None:
    from packaging.specifiers import SpecifierSet

    from integration_kit.mocks.fakeredis_support import SUPPORTED_FAKEREDIS

    declared_range, extra = _pyproject_ranges()["fakeredis"]
    assert extra == "mocks"
    assert SpecifierSet(SUPPORTED_FAKEREDIS) == SpecifierSet(declared_range)
