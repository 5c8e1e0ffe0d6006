"""The tree stays ruff- and mypy-clean, and the public API does not drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import integration_kit

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    if not executable.exists():  # the lowest-versions venv of scripts/ranges.sh has no linters
        pytest.skip(f"{tool} is not installed in this venv ({BIN})")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "integration_kit", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run("ruff", "format", "--check", "integration_kit", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean() -> None:
    result = _run("mypy", "integration_kit")
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_is_sorted_and_importable() -> None:
    names = integration_kit.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(integration_kit, name) is not None, name


def test_services_names_users_need_are_exported() -> None:
    from integration_kit.errors import has_code
    from integration_kit.services.process import CommandHealth, HttpHealth, TcpHealth
    from integration_kit.services.session import ServiceSession

    for name, value in {
        "CommandHealth": CommandHealth,
        "HttpHealth": HttpHealth,
        "ServiceSession": ServiceSession,
        "TcpHealth": TcpHealth,
        "has_code": has_code,
    }.items():
        assert name in integration_kit.__all__
        assert getattr(integration_kit, name) is value


def test_test_module_names_are_unique() -> None:
    # Test directories are not packages, so two test modules with one basename collide.
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a module name"
        seen[path.name] = path
