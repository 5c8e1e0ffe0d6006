"""The Redis mock refuses a fakeredis it is not tested with: a coded error up front, not a TypeError later."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import fakeredis._commands
import fakeredis._socket
import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.mocks import MockRedisClient, MockRedisServer, MockRedisSyncClient, fakeredis_support
from integration_kit.mocks import redis as mock_redis

pytestmark = pytest.mark.unit

CODE = ErrorCode.MOCK_FAKEREDIS_UNSUPPORTED


@pytest.fixture
def fresh_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget cached answers, so a faked version or seam is checked again (and restored after)."""
    monkeypatch.setattr(fakeredis_support, "_checked", {})


def test_the_installed_fakeredis_is_in_the_declared_range() -> None:
    fakeredis_support.check_fakeredis()
    assert fakeredis_support.SUPPORTED_FAKEREDIS == ">=2.40,<2.42"
    found = fakeredis_support._parse(fakeredis_support.installed_version() or "")
    assert found is not None and fakeredis_support.FAKEREDIS_MIN <= found < fakeredis_support.FAKEREDIS_BELOW


@pytest.mark.parametrize("version", ["2.40.0", "2.41.0", "2.41.7"])
def test_versions_in_the_range_are_accepted(
    monkeypatch: pytest.MonkeyPatch, fresh_checks: None, version: str
) -> None:
    monkeypatch.setattr(fakeredis_support, "installed_version", lambda: version)
    fakeredis_support.check_fakeredis()
    MockRedisSyncClient().close()


@pytest.mark.parametrize("version", ["2.39.0", "2.26.0", "2.42.0", "3.0.1", "dev", None])
def test_versions_outside_the_range_are_refused_at_construction(
    monkeypatch: pytest.MonkeyPatch, fresh_checks: None, version: str | None
) -> None:
    monkeypatch.setattr(fakeredis_support, "installed_version", lambda: version)
    for build in (MockRedisClient, MockRedisSyncClient, MockRedisServer):
        with raises_code(CODE) as caught:
            build()
        assert caught[0].context["supported"] == ">=2.40,<2.42"
        assert caught[0].context["found"] == ("none" if version is None else version)
        assert "pip install 'fakeredis>=2.40,<2.42'" in str(caught[0])


def test_an_unsupported_version_fails_on_import_but_the_kafka_mock_still_loads() -> None:
    script = textwrap.dedent(
        """
        import importlib.metadata as metadata
        real = metadata.version
        metadata.version = lambda name: "2.42.0" if name == "fakeredis" else real(name)
        import integration_kit.mocks as mocks
        assert mocks.MockKafkaCluster is not None
        from integration_kit.errors import MockError
        try:
            mocks.MockRedisClient
        except MockError as exc:
            print(exc.code.value, exc.context["found"], exc.context["supported"])
        else:
            raise SystemExit("imported the Redis mock on an unsupported fakeredis")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["IK-MOCK-FAKEREDIS-UNSUPPORTED", "2.42.0", ">=2.40,<2.42"]


def test_a_moved_command_method_is_refused(monkeypatch: pytest.MonkeyPatch, fresh_checks: None) -> None:
    monkeypatch.setattr(fakeredis._commands.SUPPORTED_COMMANDS["expire"], "func_name", "expire_v2")
    with raises_code(CODE) as caught:
        MockRedisClient()
    assert "EXPIRE" in caught[0].context["cause"]


def test_a_missing_seam_is_refused(monkeypatch: pytest.MonkeyPatch, fresh_checks: None) -> None:
    monkeypatch.setattr(
        fakeredis_support, "_SEAMS", (*fakeredis_support._SEAMS, ("fakeredis._socket", "FakeSocket._gone"))
    )
    with raises_code(CODE) as caught:
        MockRedisSyncClient()
    assert "FakeSocket._gone" in caught[0].context["cause"]


def test_a_seam_that_changed_behaviour_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mock_redis, "_self_tested", False)
    monkeypatch.setattr(mock_redis, "_self_test_failure", None)
    monkeypatch.setattr(mock_redis._ClockedCommands, "ttl", lambda self, key, *_: 0)
    with raises_code(CODE) as caught:
        MockRedisServer()
    assert "TTL rounds half up" in caught[0].context["cause"]
    with raises_code(CODE):  # remembered: not a one-off
        MockRedisClient()


def test_a_changed_signature_fails_the_self_test_not_a_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def run_command(self: object, func: object, sig: object, args: list[object], from_script: bool) -> None:
        raise TypeError("_run_command() got an unexpected keyword argument 'invalid_in'")

    monkeypatch.setattr(mock_redis, "_self_tested", False)
    monkeypatch.setattr(mock_redis, "_self_test_failure", None)
    monkeypatch.setattr(fakeredis._socket.FakeSocket, "_run_command", run_command)
    with raises_code(CODE) as caught:
        MockRedisServer()
    assert "TypeError" in caught[0].context["cause"]


async def test_a_connection_building_another_socket_is_refused(
    monkeypatch: pytest.MonkeyPatch, fresh_checks: None
) -> None:
    import fakeredis._clients._async as fr_async

    class OtherSocket(fakeredis._socket.AsyncFakeSocket):
        pass

    monkeypatch.setattr(fr_async, "AsyncFakeSocket", OtherSocket)
    with raises_code(CODE) as caught:
        MockRedisClient()
    assert "AsyncFakeSocket" in caught[0].context["cause"]


def test_forwarded_keywords_reach_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    """The adapters take what fakeredis passes: a new keyword in a release is forwarded, not a TypeError."""
    seen: list[dict[str, object]] = []
    original = fakeredis._socket.FakeSocket._run_command

    def run_command(self: object, *args: object, **kwargs: object) -> object:
        seen.append(kwargs)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fakeredis._socket.FakeSocket, "_run_command", run_command)
    sock_cls = mock_redis._MockSocket
    client = MockRedisSyncClient()
    # make_connection + connect: get_connection's signature differs across redis-py releases
    sock = client.connection_pool.make_connection()
    sock.connect()
    assert isinstance(sock._sock, sock_cls)  # type: ignore[attr-defined]
    sock._sock._run_command(*_ping_args(sock._sock), new_option=True)  # type: ignore[attr-defined]
    assert seen[-1] == {"new_option": True}
    sock.disconnect()
    client.close()


def _ping_args(sock: object) -> tuple[object, ...]:
    func, sig = sock._name_to_func("ping")  # type: ignore[attr-defined]
    return (func, sig, [], False)


def test_the_range_is_the_one_pyproject_declares() -> None:
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    declared = [Requirement(line) for line in pyproject["project"]["optional-dependencies"]["mocks"]]
    (fakeredis_req,) = [req for req in declared if req.name == "fakeredis"]
    supported = Requirement("fakeredis" + fakeredis_support.SUPPORTED_FAKEREDIS)
    assert fakeredis_req.specifier == supported.specifier
