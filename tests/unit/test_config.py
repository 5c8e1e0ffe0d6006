"""config.py: precedence, parsing, coded errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, raises_code

pytestmark = pytest.mark.unit


def _pyproject(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.integration_kit]\n" + body)
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, pyproject=_pyproject(tmp_path, ""))
    assert settings.backend == "auto"
    assert settings.postgres_url is None
    assert settings.start_attempts == 2


def test_precedence_keyword_cli_env_pyproject(tmp_path: Path) -> None:
    pyproject = _pyproject(tmp_path, 'backend = "docker"\nstart_timeout = 30\n')
    environ = {
        "INTEGRATION_KIT_BACKEND": "local",
        "INTEGRATION_KIT_START_TIMEOUT": "5",
        "INTEGRATION_KIT_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    settings = load_settings(environ=environ, pyproject=pyproject)
    assert settings.backend == "local"  # env beats pyproject (CI overrides the project)
    assert settings.start_timeout == 5
    assert settings.redis_url == "redis://127.0.0.1:1/0"  # env beats default
    only_file = load_settings(environ={}, pyproject=pyproject)
    assert (only_file.backend, only_file.start_timeout) == ("docker", 30)  # pyproject beats default
    settings = load_settings(environ=environ, pyproject=pyproject, cli={"backend": "external"})
    assert settings.backend == "external"
    settings = load_settings(
        environ=environ, pyproject=pyproject, cli={"backend": "external"}, backend="local"
    )
    assert settings.backend == "local"


def test_cli_none_means_not_given(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"INTEGRATION_KIT_BACKEND": "local"},
        pyproject=_pyproject(tmp_path, ""),
        cli={"backend": None},
    )
    assert settings.backend == "local"


def test_zero_is_not_treated_as_unset(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, "start_attempts = 0\n"))
    assert caught[0].context["key"] == "start_attempts"


def test_unknown_key_in_pyproject(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONFIG_UNKNOWN_KEY) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, 'bakend = "docker"\n'))
    assert caught[0].context["key"] == "bakend"
    assert "backend" in caught[0].hint


def test_unknown_keyword() -> None:
    with raises_code(ErrorCode.CONFIG_UNKNOWN_KEY):
        load_settings(environ={}, colour="blue")


@pytest.mark.parametrize(
    ("key", "value"),
    [("backend", "kubernetes"), ("start_timeout", "-1"), ("start_attempts", "many"), ("allow_pull", "maybe")],
)
def test_invalid_values_from_env(tmp_path: Path, key: str, value: str) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={f"INTEGRATION_KIT_{key.upper()}": value}, pyproject=_pyproject(tmp_path, ""))
    assert caught[0].context["source"] == "environment"
    assert isinstance(caught[0], ValueError)


def test_settings_are_frozen_and_replace_validates(tmp_path: Path) -> None:
    settings = load_settings(environ={}, pyproject=_pyproject(tmp_path, ""))
    with pytest.raises(AttributeError):
        settings.backend = "local"  # type: ignore[misc]
    assert settings.replace(backend="docker").backend == "docker"
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE):
        settings.replace(backend="nope")
