"""Bad configuration fails fast with its own code, and never prints a credential.

One test per bad input of issue 12: a misspelt ``INTEGRATION_KIT_*`` variable, nan / inf /
negative numbers (and a poll given such a timeout), path settings that are files, below a
file or not writable. The external backend's bad inputs (wrong password, unknown database,
wrong protocol) run against real servers in tests/integration/backends/external.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from integration_kit.config import SCRIPT_VARIABLES, ensure_directory, load_settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.health import TcpCheck, wait_healthy
from integration_kit.services.runtime import runtime_root
from integration_kit.waiting import wait_until, wait_until_sync

pytestmark = pytest.mark.unit

SECRET = "Hunter2-do-not-print"


def _pyproject(tmp_path: Path, body: str = "") -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.integration_kit]\n" + body)
    return path


# --- unknown variables ----------------------------------------------------------------------


def test_a_misspelt_variable_is_an_error_naming_the_closest_known_one(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONFIG_UNKNOWN_ENV) as caught:
        load_settings(environ={"INTEGRATION_KIT_BAKEND": "docker"}, pyproject=_pyproject(tmp_path))
    error = caught[0]
    assert error.context["name"] == "INTEGRATION_KIT_BAKEND"
    assert error.hint.startswith("Did you mean INTEGRATION_KIT_BACKEND?")
    assert isinstance(error, ValueError)


def test_a_misspelt_url_variable_does_not_print_its_value(tmp_path: Path) -> None:
    environ = {"INTEGRATION_KIT_POSTGRES_ULR": f"postgresql://app:{SECRET}@db/orders"}
    with raises_code(ErrorCode.CONFIG_UNKNOWN_ENV) as caught:
        load_settings(environ=environ, pyproject=_pyproject(tmp_path))
    assert "INTEGRATION_KIT_POSTGRES_URL" in caught[0].hint
    assert SECRET not in str(caught[0])


def test_a_variable_far_from_every_name_gets_no_guess(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONFIG_UNKNOWN_ENV) as caught:
        load_settings(environ={"INTEGRATION_KIT_XYZZY": "1"}, pyproject=_pyproject(tmp_path))
    assert not caught[0].hint.startswith("Did you mean")
    assert "INTEGRATION_KIT_BACKEND" in caught[0].hint  # the known names are listed instead


def test_the_scripts_variables_are_known_but_no_settings(tmp_path: Path) -> None:
    environ = dict.fromkeys(SCRIPT_VARIABLES, "x")
    settings = load_settings(environ=environ, pyproject=_pyproject(tmp_path))
    assert settings.backend == "auto"


def test_a_misspelt_pyproject_key_names_the_closest_setting(tmp_path: Path) -> None:
    with raises_code(ErrorCode.CONFIG_UNKNOWN_KEY) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, "start_timout = 5\n"))
    assert caught[0].hint.startswith("Did you mean start_timeout")


def test_pytest_stops_before_any_test_on_a_misspelt_variable(tmp_path: Path) -> None:
    """The plugin turns the error into a usage error at configure time: no test runs."""
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRATION_KIT_")}
    env["INTEGRATION_KIT_BAKEND"] = "docker"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "IK-CONFIG-UNKNOWN-ENV" in result.stderr
    assert "INTEGRATION_KIT_BACKEND" in result.stderr
    assert "1 passed" not in result.stdout


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "0", "1e400", "true"])
def test_start_timeout_must_be_a_finite_positive_number(tmp_path: Path, value: str) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={"INTEGRATION_KIT_START_TIMEOUT": value}, pyproject=_pyproject(tmp_path))
    assert caught[0].context["key"] == "start_timeout"


@pytest.mark.parametrize("toml", ["nan", "inf", "-inf", "-0.5", "0", "true"])
def test_start_timeout_from_pyproject_must_be_finite_and_positive(tmp_path: Path, toml: str) -> None:
    """TOML has nan and inf literals: they are refused as well."""
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, f"start_timeout = {toml}\n"))
    assert caught[0].context["source"].endswith("pyproject.toml")


@pytest.mark.parametrize("toml", ["2.5", "0", "-3", "true", "nan", "inf", '"two"'])
def test_start_attempts_must_be_a_whole_number_of_at_least_one(tmp_path: Path, toml: str) -> None:
    with raises_code(ErrorCode.CONFIG_INVALID_VALUE) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, f"start_attempts = {toml}\n"))
    assert caught[0].context["key"] == "start_attempts"


def test_whole_floats_and_padded_text_are_fine(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"INTEGRATION_KIT_START_TIMEOUT": " 2.5 "},
        pyproject=_pyproject(tmp_path, "start_attempts = 3.0\n"),
    )
    assert (settings.start_timeout, settings.start_attempts) == (2.5, 3)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
def test_a_poll_never_waits_forever_on_a_nan_timeout(timeout: float) -> None:
    """A condition that never holds, under a nan/inf/negative timeout: refused at once."""
    started = time.monotonic()
    with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
        wait_until_sync(lambda: False, timeout=timeout)
    if timeout != -1.0:  # a deadline already passed is fine: one attempt
        with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
            wait_until_sync(lambda: False, deadline=time.monotonic() + timeout)
    assert time.monotonic() - started < 5  # generous: it returns, it does not poll


@pytest.mark.parametrize("timeout", [float("nan"), float("inf")])
async def test_an_async_poll_and_a_health_wait_refuse_a_nan_timeout(timeout: float) -> None:
    with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
        await wait_until(lambda: False, timeout=timeout)
    with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
        await wait_healthy(TcpCheck(host="127.0.0.1", port=1), timeout=timeout)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -5.0])
def test_a_never_healthy_process_is_not_started_under_a_nan_timeout(
    monkeypatch: pytest.MonkeyPatch, timeout: float
) -> None:
    """The issue's hang: a process that never gets healthy, polled until a nan deadline.
    Refused before the process is spawned, so nothing is left running either."""
    import integration_kit.services.process as process_module
    from integration_kit.services.process import ProcessService, start_process

    spawned: list[object] = []
    real_popen = process_module.subprocess.Popen

    def recording_popen(*args: object, **kwargs: object) -> object:
        spawned.append(args)
        return real_popen(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(process_module.subprocess, "Popen", recording_popen)
    spec = ProcessService(name="never-healthy", command=[sys.executable, "-c", "import time; time.sleep(60)"])
    with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
        start_process(spec, endpoints={}, timeout=timeout)
    assert spawned == [], "the process was spawned"
    with raises_code(ErrorCode.USAGE_INVALID_TIMEOUT):
        ProcessService(name="slow-stop", command="true", stop_timeout=timeout)


# --- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["runtime_dir", "cache_dir"])
def test_a_directory_setting_naming_a_file_is_a_coded_error(tmp_path: Path, key: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        load_settings(environ={f"INTEGRATION_KIT_{key.upper()}": str(a_file)}, pyproject=_pyproject(tmp_path))
    assert caught[0].context["key"] == key
    assert "is a file" in caught[0].context["problem"]
    assert f"INTEGRATION_KIT_{key.upper()}" in caught[0].hint


@pytest.mark.parametrize("key", ["runtime_dir", "cache_dir"])
def test_a_directory_setting_below_a_file_is_a_coded_error(tmp_path: Path, key: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        load_settings(environ={}, pyproject=_pyproject(tmp_path, f'{key} = "{a_file}/run/ik"\n'))
    assert str(a_file) in caught[0].context["problem"]


def test_the_runtime_directory_becoming_a_file_later_is_a_coded_error(tmp_path: Path) -> None:
    """Checked again where the directory is made: not a raw FileExistsError."""
    target = tmp_path / "runtime"
    settings = load_settings(environ={}, pyproject=_pyproject(tmp_path), runtime_dir=target)
    target.write_text("someone put a file here")
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        runtime_root(settings.runtime_dir)
    assert caught[0].context["key"] == "runtime_dir"


@pytest.mark.parametrize("below", [False, True], ids=["itself", "a-new-subdirectory"])
def test_an_unwritable_runtime_directory_is_a_coded_error(immutable_dir: Path, below: bool) -> None:
    target = immutable_dir / "ik" if below else immutable_dir
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        runtime_root(target)
    assert "not writable" in caught[0].context["problem"]
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH):
        ensure_directory(target, "cache_dir")
    assert list(immutable_dir.iterdir()) == []  # nothing was left behind


def test_the_local_backend_reports_an_unusable_cache_directory(tmp_path: Path) -> None:
    from integration_kit.services.backends.local import LocalBackend

    settings = load_settings(environ={}, pyproject=_pyproject(tmp_path), cache_dir=tmp_path / "cache")
    (tmp_path / "cache").write_text("a file now")
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        _ = LocalBackend(settings).cache_root
    assert caught[0].context["key"] == "cache_dir"


def test_the_metrics_database_below_a_file_is_a_coded_error(tmp_path: Path) -> None:
    from integration_kit.metrics.history import History

    (tmp_path / "a-file").write_text("x")
    with raises_code(ErrorCode.METRICS_DB_UNREADABLE):
        History(tmp_path / "a-file" / "history.sqlite")


def test_the_docs_list_every_bad_input_code() -> None:
    """docs/configuration.md tells users what each bad input gives."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    for code in (
        ErrorCode.CONFIG_UNKNOWN_ENV,
        ErrorCode.CONFIG_UNKNOWN_KEY,
        ErrorCode.CONFIG_INVALID_VALUE,
        ErrorCode.CONFIG_UNUSABLE_PATH,
        ErrorCode.EXTERNAL_AUTH_FAILED,
        ErrorCode.EXTERNAL_UNKNOWN_DATABASE,
        ErrorCode.EXTERNAL_WRONG_PROTOCOL,
        ErrorCode.EXTERNAL_SASL_REQUIRED,
    ):
        assert code.value in text, code
