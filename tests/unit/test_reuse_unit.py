"""Reuse without servers: when it is on, what a run's namespace is, what makes a warm
service the same one, and the CLI with nothing warm."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from integration_kit.cli import main
from integration_kit.config import load_settings
from integration_kit.services.base import KafkaService, PostgresService, RedisService
from integration_kit.services.namespace import PG_MAX_IDENTIFIER, RUN_ENV, Namespace
from integration_kit.services.warm.project import project_id, reuse_enabled
from integration_kit.services.warm.store import spec_fingerprint


@pytest.mark.parametrize(
    ("keywords", "environ", "expected"),
    [
        ({}, {}, False),  # off by default
        ({"reuse": True}, {}, True),
        ({"keep_failed": True}, {}, True),  # kept data must outlive the run
        ({"reuse": True}, {"CI": "true"}, False),
        ({"reuse": True}, {"GITHUB_ACTIONS": "true"}, False),
        ({"reuse": True}, {"CI": "false"}, True),
        ({"reuse": True, "backend": "external"}, {}, False),
    ],
)
def test_when_reuse_is_on(keywords: dict[str, object], environ: dict[str, str], expected: bool) -> None:
    settings = load_settings(pyproject=None, environ={}, **keywords)
    assert reuse_enabled(settings, environ) is expected


def test_reuse_setting_from_the_environment_and_its_bad_values() -> None:
    assert load_settings(pyproject=None, environ={"INTEGRATION_KIT_REUSE": "true"}).reuse is True
    from integration_kit.errors import ConfigError

    for key, value in (("INTEGRATION_KIT_REUSE", "maybe"), ("INTEGRATION_KIT_REUSE_IDLE_TIMEOUT", "-1")):
        with pytest.raises(ConfigError):
            load_settings(pyproject=None, environ={key: value})


def test_without_a_run_token_names_are_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUN_ENV, raising=False)
    assert Namespace("gw1").database("ik_test") == "ik_test_gw1"
    assert Namespace("main").topic("orders") == "orders"
    assert Namespace("gw0").key_prefix == "ik:gw0:"


@given(
    name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=80),
    worker=st.sampled_from(["main", "gw0", "gw13"]),
)
def test_a_run_token_gives_every_name_its_own_namespace(name: str, worker: str) -> None:
    ours, theirs = Namespace(worker, run="r1234567"), Namespace(worker, run="r7654321")
    for left, right in ((ours.database(name), theirs.database(name)), (ours.topic(name), theirs.topic(name))):
        assert left != right
    assert len(ours.database(name).encode()) <= PG_MAX_IDENTIFIER
    assert ours.topic(ours.topic(name)) == ours.topic(name)  # no double prefix
    assert ours.key_prefix != theirs.key_prefix


def test_a_fingerprint_names_kind_fields_backend_and_the_settings_that_matter() -> None:
    settings = load_settings(pyproject=None, environ={})
    base = spec_fingerprint(PostgresService(), "docker", settings)
    assert base == spec_fingerprint(PostgresService(), "docker", settings)
    assert base != spec_fingerprint(PostgresService(version="17"), "docker", settings)
    assert base != spec_fingerprint(PostgresService(database="other"), "docker", settings)
    assert base != spec_fingerprint(PostgresService(), "local", settings)
    assert base != spec_fingerprint(PostgresService(), "docker", settings.replace(postgres_image="pg:x"))
    broker = KafkaService(broker_config={"a": "1"})
    assert spec_fingerprint(broker, "docker", settings) != spec_fingerprint(
        KafkaService(), "docker", settings
    )
    assert spec_fingerprint(RedisService(), "docker", settings).startswith("redis-")


def test_projects_have_their_own_ids(tmp_path: Path) -> None:
    assert project_id(tmp_path / "a") != project_id(tmp_path / "b")
    assert project_id(tmp_path / "a") == project_id(tmp_path / "a")


def test_status_down_and_clean_with_nothing_warm(tmp_path: Path) -> None:
    env = {"INTEGRATION_KIT_RUNTIME_DIR": str(tmp_path)}
    runner = CliRunner()
    for args, expected in (
        (["status"], "no warm services"),
        (["down"], "no warm services"),
        (["clean"], "nothing kept"),
    ):
        result = runner.invoke(main, ["services", *args], env=env)
        assert result.exit_code == 0 and expected in result.output, result.output
    result = runner.invoke(main, ["services", "status", "--json"], env=env)
    assert result.output.strip() == "[]"
    result = runner.invoke(main, ["services", "up", "--only", "mysql"], env=env)
    assert result.exit_code != 0 and "unknown service" in result.output


def test_only_set_directories_are_warm_sets(tmp_path: Path) -> None:
    from integration_kit.services.warm.store import list_sets, warm_root

    settings = load_settings(pyproject=None, environ={}, runtime_dir=tmp_path)
    for name in ("kept", "snapshots", "0123456789ab-local", "0123456789ab-external", "x-docker"):
        (warm_root(settings) / name).mkdir()
    assert [warm.name for warm in list_sets(settings)] == ["0123456789ab-local"]
