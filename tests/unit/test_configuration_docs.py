"""docs/configuration.md agrees with ``Settings``: one row per setting, with its variable,
pyproject key, CLI option (registered by a plugin), default and the modules that read it;
and the page's examples run."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from integration_kit.config import SETTING_NAMES, Settings, env_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
PACKAGE = ROOT / "integration_kit"
COLUMNS = ["setting", "environment variable", "pyproject key", "CLI option", "default", "read by", "meaning"]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split(" | ")]


def _table() -> dict[str, dict[str, str]]:
    lines = PAGE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| setting |"))
    assert _cells(lines[start]) == COLUMNS
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(COLUMNS), line
        name = cells[0].strip("`")
        assert name not in rows, f"{name} documented twice"
        rows[name] = dict(zip(COLUMNS, cells, strict=True))
    return rows


def _codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _shown(value: Any) -> str:
    """A default as the page shows it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == ():
        return "none"
    consecutive = isinstance(value, tuple) and all(isinstance(v, int) for v in value)
    if consecutive and list(value) == list(range(value[0], value[-1] + 1)):
        return f"{value[0]}-{value[-1]}"  # the Redis databases: "1-15"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return str(value).replace(str(Path.home()), "~", 1)
    return str(value)


def _registered_options() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*plugin.py"):
        found |= set(re.findall(r'addoption\(\s*"(--(?:no-)?ik-[a-z-]+)"', path.read_text()))
    return found


def test_every_setting_has_one_row_and_every_row_is_a_setting() -> None:
    assert list(_table()) == list(SETTING_NAMES), "same settings, in the order of Settings"


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_the_row_names_the_variable_key_and_default(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    row = _table()[name]
    assert _codes(row["environment variable"]) == [env_name(name)]
    assert _codes(row["pyproject key"]) == [name]
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    default = next(f for f in fields(Settings) if f.name == name)
    value = getattr(Settings(), name)
    assert _codes(row["default"])[0] == _shown(value), f"{name}: Settings says {value!r} ({default.type})"


@pytest.mark.parametrize("name", SETTING_NAMES)
def test_the_row_names_real_options_and_the_modules_that_read_it(name: str) -> None:
    row = _table()[name]
    options = _codes(row["CLI option"])
    assert set(options) <= _registered_options(), f"{name}: {options} are not options of a plugin"
    modules = _codes(row["read by"])
    assert modules, f"{name}: say which modules read it"
    for module in modules:
        source = (PACKAGE / module).read_text()
        assert re.search(rf"\.{name}\b", source), f"{module} does not read settings.{name}"


def test_every_option_is_a_setting_or_listed_as_command_line_only() -> None:
    text = PAGE.read_text()
    documented = {option for row in _table().values() for option in _codes(row["CLI option"])}
    only = set(re.findall(r"`(--ik-[a-z-]+)`", text.split("Command-line only", 1)[1].split("\n\n", 1)[0]))
    assert _registered_options() - documented - only == set()


def test_the_examples_run() -> None:
    for block in re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S):
        exec(compile(block, str(PAGE), "exec"), {})
