"""Every ``INTEGRATION_KIT_*`` name anywhere in the repository is one the kit knows.

The kit refuses unknown ``INTEGRATION_KIT_*`` variables (``IK-CONFIG-UNKNOWN-ENV``), so a name
that the package, a script, CI, a test, a benchmark or the docs set or read, but
``config.known_variables()`` does not list, would break every run that sets it. This scan
keeps the known set from going stale: add a setting, or list a script's variable in
``config.SCRIPT_VARIABLES``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integration_kit.config import SCRIPT_VARIABLES, SETTING_NAMES, env_name, known_variables

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("integration_kit", "scripts", ".ci", "tests", "benchmarks", "docs", "examples", "images")
TOP_FILES = ("README.md", "tox.ini", "pyproject.toml")
NAME = re.compile(r"INTEGRATION_KIT_[A-Z0-9_]*[A-Z0-9]")
#: Misspelt on purpose by the tests of the unknown-variable error (and the page that shows
#: it); nowhere else.
DELIBERATELY_UNKNOWN = {"INTEGRATION_KIT_BAKEND", "INTEGRATION_KIT_POSTGRES_ULR", "INTEGRATION_KIT_XYZZY"}


def _files() -> list[Path]:
    found = [ROOT / name for name in TOP_FILES if (ROOT / name).is_file()]
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".jar"}:
                found.append(path)
    return found


def _names() -> dict[str, set[str]]:
    where: dict[str, set[str]] = {}
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name in NAME.findall(text):
            where.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return where


def test_the_scan_sees_the_variables_it_should() -> None:
    """A scan that finds nothing would pass anything: it must see the kit's own reads."""
    where = _names()
    assert "integration_kit/services/backends/docker/backend.py" in where["INTEGRATION_KIT_POSTGRES_IMAGE"]
    assert "scripts/provision.sh" in where["INTEGRATION_KIT_UV"]
    assert "scripts/provision.sh" in where["INTEGRATION_KIT_CACHE_DIR"]


def test_every_variable_named_in_the_repository_is_known() -> None:
    unknown = {
        name: sorted(paths)
        for name, paths in _names().items()
        if name not in known_variables() and name not in DELIBERATELY_UNKNOWN
    }
    assert not unknown, (
        "INTEGRATION_KIT_* names the kit would refuse (add a setting, or list a script's variable "
        f"in config.SCRIPT_VARIABLES): {unknown}"
    )


def test_deliberate_misspellings_stay_in_the_tests() -> None:
    for name, paths in _names().items():
        if name in DELIBERATELY_UNKNOWN:
            assert all(p.startswith("tests/unit/") or p == "docs/configuration.md" for p in paths), (
                name,
                paths,
            )


def test_script_variables_are_not_settings_and_are_documented() -> None:
    settings_env = {env_name(key) for key in SETTING_NAMES}
    assert not settings_env & set(SCRIPT_VARIABLES)
    docs = (ROOT / "docs" / "configuration.md").read_text()
    for name in SCRIPT_VARIABLES:
        assert f"`{name}`" in docs, f"document {name} in docs/configuration.md"
