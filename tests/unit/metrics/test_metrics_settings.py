"""metrics/settings.py: the suite-health settings, read like every other setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, raises_code

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    settings = load_settings(environ={}, pyproject=None, rootdir=Path("/nonexistent"))
    assert settings.notify == () and settings.shuffle == "off" and settings.leak_check is False
    assert settings.quarantine_file == Path("quarantine.json") and settings.lint_folders == ()


def test_pyproject_and_environment(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.integration_kit]\n"
        'notify = ["webhook:http://127.0.0.1:9/hook", "command:notify-team --channel ci"]\n'
        'quarantine_file = "tests/quarantine.json"\n'
        "shuffle = 1234\n"
        "leak_check = true\n"
        'lint_folders = {fidelity = "integration"}\n'
    )
    settings = load_settings(environ={}, pyproject=pyproject)
    assert settings.notify == ("webhook:http://127.0.0.1:9/hook", "command:notify-team --channel ci")
    assert settings.quarantine_file == Path("tests/quarantine.json")
    assert settings.shuffle == "1234" and settings.leak_check is True
    assert settings.lint_folders == (("fidelity", "integration"),)
    env = {"INTEGRATION_KIT_SHUFFLE": "random", "INTEGRATION_KIT_NOTIFY": "command:a;command:b"}
    from_env = load_settings(environ=env, pyproject=None, rootdir=Path("/nonexistent"))
    assert from_env.shuffle == "random" and from_env.notify == ("command:a", "command:b")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("notify", ["mail:ops@example.invalid"]),
        ("notify", ["webhook:ftp://x"]),
        ("notify", "command:"),
        ("shuffle", "sometimes"),
        ("shuffle", -1),
        ("lint_folders", {"a/b": "unit"}),
        ("lint_folders", {"fidelity": "smoke"}),
        ("quarantine_file", ""),
    ],
)
def test_invalid_values_are_coded_errors(key: str, value: object) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={}, pyproject=None, rootdir=Path("/nonexistent"), **{key: value})
    assert caught[0].context["key"] == key
