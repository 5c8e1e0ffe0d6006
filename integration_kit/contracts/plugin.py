"""pytest hooks of the contracts layer: ``--ik-contracts-dir`` and the ``ik_contracts`` fixture.

Register it next to the main plugin (``pytest_plugins`` or a ``pytest11`` entry point).
The API itself needs no fixture: ``load_contracts(path)`` works in any test; the fixture
only saves loading the configured directory once per session::

    @pytest.mark.contract
    def test_order_created(ik_contracts):
        ik_contracts.message("order-created").verify({"id": 7, "items": []})
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from integration_kit.contracts.registry import ContractRegistry


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-contracts-dir",
        dest="ik_contracts_dir",
        default=None,
        help="directory of contract definitions for the ik_contracts fixture (ini: ik_contracts_dir)",
    )
    parser.addini(
        "ik_contracts_dir", "directory of contract definitions (relative to the rootdir)", default=""
    )


def contracts_dir(config: pytest.Config) -> Path | None:
    """The configured contracts directory (option, then ini), or None."""
    option = config.getoption("ik_contracts_dir", default=None)
    if option is not None:
        return Path(option).resolve()
    ini = config.getini("ik_contracts_dir")
    if ini:
        return (config.rootpath / str(ini)).resolve()
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "contract: contract tests between services")
    path = contracts_dir(config)
    if path is not None and not path.is_dir():
        raise pytest.UsageError(f"--ik-contracts-dir / ik_contracts_dir: {path} is not a directory")


def pytest_report_header(config: pytest.Config) -> str | None:
    path = contracts_dir(config)
    return None if path is None else f"integration-kit contracts: {path}"


@pytest.fixture(scope="session")
def ik_contracts(pytestconfig: pytest.Config) -> ContractRegistry:
    """The registry of the configured contracts directory (skips when none is configured)."""
    from integration_kit.contracts.registry import load_contracts

    path = contracts_dir(pytestconfig)
    if path is None:
        pytest.skip("no contracts directory: pass --ik-contracts-dir or set ik_contracts_dir")
    return load_contracts(path)
