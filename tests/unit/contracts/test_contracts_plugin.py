"""The contracts pytest plugin: ``--ik-contracts-dir`` / ini, and the ``ik_contracts`` fixture."""

from __future__ import annotations

import json

import pytest

import integration_kit.contracts.plugin as contracts_plugin

pytestmark = [pytest.mark.unit, pytest.mark.contract]

CONTRACT = {
    "name": "order-created",
    "version": "1.0.0",
    "value": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}},
}
TEST = """
import pytest
from integration_kit.errors import ErrorCode, raises_code

@pytest.mark.contract
def test_registry(ik_contracts):
    contract = ik_contracts.message("order-created")
    contract.verify({"id": 7})
    with raises_code(ErrorCode.CONTRACT_VIOLATION):
        contract.verify({"id": "7"})
"""


def plugin_args(pytester: pytest.Pytester) -> list[str]:
    """``-p`` the plugin unless the kit already loads it (entry point or the main plugin)."""
    if pytester.parseconfig().pluginmanager.is_registered(contracts_plugin):
        return []
    return ["-p", "integration_kit.contracts.plugin"]


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_option_loads_the_directory(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    (pytester.mkdir("contracts") / "order.json").write_text(json.dumps(CONTRACT))
    pytester.makepyfile(TEST)
    result = pytester.runpytest(*plugin_args(pytester), "--ik-contracts-dir", "contracts")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["integration-kit contracts: *contracts"])


def test_ini_setting_loads_the_directory(pytester: pytest.Pytester) -> None:
    (pytester.mkdir("specs") / "order.json").write_text(json.dumps(CONTRACT))
    pytester.makeini(INI + "ik_contracts_dir = specs\n")
    pytester.makepyfile(TEST)
    pytester.runpytest(*plugin_args(pytester)).assert_outcomes(passed=1)


def test_fixture_skips_without_a_directory(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(TEST)
    result = pytester.runpytest(*plugin_args(pytester), "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no contracts directory*"])


def test_a_missing_directory_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makepyfile(TEST)
    result = pytester.runpytest(*plugin_args(pytester), "--ik-contracts-dir", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-CONFIG-UNUSABLE-PATH*nowhere*it does not exist*"])


def test_the_setting_comes_from_pyproject_and_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """contracts_dir is a setting like any other: CLI > environment > pyproject > ini key."""
    for name in ("specs", "from-pyproject", "from-env"):
        (pytester.mkdir(name) / "order.json").write_text(json.dumps(CONTRACT))
    pytester.makeini(INI + "ik_contracts_dir = specs\n")
    pytester.makepyprojecttoml('[tool.integration_kit]\ncontracts_dir = "from-pyproject"\n')
    pytester.makepyfile(TEST)
    result = pytester.runpytest(*plugin_args(pytester))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["integration-kit contracts: *from-pyproject"])
    monkeypatch.setenv("INTEGRATION_KIT_CONTRACTS_DIR", "from-env")
    result = pytester.runpytest(*plugin_args(pytester))
    result.stdout.fnmatch_lines(["integration-kit contracts: *from-env"])
    result = pytester.runpytest(*plugin_args(pytester), "--ik-contracts-dir", "specs")
    result.stdout.fnmatch_lines(["integration-kit contracts: *specs"])
