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
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from integration_kit.contracts.registry import ContractRegistry

_UNSET: Any = object()
_DIR = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("integration_kit", "integration-kit")
    group.addoption(
        "--ik-contracts-dir",
        dest="ik_contracts_dir",
        default=None,
        help="directory of contract definitions for the ik_contracts fixture (setting: contracts_dir)",
    )
    parser.addini(
        "ik_contracts_dir",
        "directory of contract definitions (relative to the rootdir); the contracts_dir setting "
        "([tool.integration_kit], INTEGRATION_KIT_CONTRACTS_DIR) takes precedence",
        default="",
    )


def contracts_dir(config: pytest.Config) -> Path | None:
    """The configured contracts directory, or None: the ``contracts_dir`` setting
    (``--ik-contracts-dir`` > ``INTEGRATION_KIT_CONTRACTS_DIR`` > ``[tool.integration_kit]``),
    else the pytest ini key ``ik_contracts_dir`` (kept for projects that use it).
    Relative paths are under the rootdir."""
    from integration_kit.config import load_settings

    cached = config.stash.get(_DIR, _UNSET)
    if cached is not _UNSET:
        return cached
    option = config.getoption("ik_contracts_dir", default=None)
    configured = load_settings(cli={"contracts_dir": option}, rootdir=config.rootpath).contracts_dir
    if configured is None and config.getini("ik_contracts_dir"):
        configured = Path(str(config.getini("ik_contracts_dir")))
    base = config.invocation_params.dir if option is not None else config.rootpath
    path = None if configured is None else (base / configured).resolve()
    config.stash[_DIR] = path
    return path


def pytest_configure(config: pytest.Config) -> None:
    from integration_kit.errors import ConfigError, ErrorCode

    config.addinivalue_line("markers", "contract: contract tests between services")
    try:
        path = contracts_dir(config)
    except ConfigError as exc:
        if exc.context.get("key") == "contracts_dir":
            raise pytest.UsageError(str(exc)) from exc
        return  # another layer's setting is bad, and that layer reports it
    if path is not None and not path.is_dir():
        problem = "it does not exist" if not path.exists() else "it is not a directory"
        error = ConfigError(
            ErrorCode.CONFIG_UNUSABLE_PATH,
            key="contracts_dir",
            path=path,
            problem=problem,
            hint="Point --ik-contracts-dir or the contracts_dir setting at a directory of contracts.",
        )
        raise pytest.UsageError(str(error))


def pytest_report_header(config: pytest.Config) -> str | None:
    path = contracts_dir(config)
    return None if path is None else f"integration-kit contracts: {path}"


@pytest.fixture(scope="session")
def ik_contracts(pytestconfig: pytest.Config) -> ContractRegistry:
    """The registry of the configured contracts directory (skips when none is configured)."""
    from integration_kit.contracts.registry import load_contracts

    path = contracts_dir(pytestconfig)
    if path is None:
        pytest.skip("no contracts directory: pass --ik-contracts-dir or set the contracts_dir setting")
    return load_contracts(path)
