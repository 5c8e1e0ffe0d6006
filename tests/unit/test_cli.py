"""The ``integration-kit`` command exposes every layer's commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from integration_kit.cli import main

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("group", "command"),
    [("services", "check"), ("metrics", "flaky"), ("metrics", "report"), ("contracts", "verify")],
)
def test_layer_commands_are_reachable(group: str, command: str) -> None:
    result = CliRunner().invoke(main, [group, command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_command_fails() -> None:
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code != 0
