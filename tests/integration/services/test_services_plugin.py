"""The plugin's fixtures and ServiceTestCase wiring, in real pytest runs (pytester)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

APP = str(Path(__file__).parent / "apps" / "http_app.py")
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
markers =
    custom: a marker of the inner suite
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    for name in (
        # the inner run is a run of its own, even when this one runs under xdist
        "PYTEST_XDIST_WORKER",
        "PYTEST_XDIST_WORKER_COUNT",
        "PYTEST_XDIST_TESTRUNUID",
        "INTEGRATION_KIT_POSTGRES_URL",
        "INTEGRATION_KIT_REDIS_URL",
        "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS",
    ):
        monkeypatch.delenv(name, raising=False)
    return pytester


@pytest.fixture
def with_redis(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ik_redis: Endpoint
) -> pytest.Pytester:
    """Inner runs reach the outer run's Redis through the external backend (no new container)."""
    monkeypatch.setenv("INTEGRATION_KIT_REDIS_URL", f"redis://{ik_redis.host}:{ik_redis.port}/0")
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", "auto")
    return inner


def test_services_start_only_when_requested(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # No engine at all: a test that needs no service never notices.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    inner.makepyfile(
        """
        def test_plain():
            assert True

        def test_needs_redis(ik_redis):
            pass
        """
    )
    # Only the service-free test is selected: the session never touches the (absent) engine.
    result = inner.runpytest_subprocess("--ik-backend=docker", "-k", "plain")
    result.assert_outcomes(passed=1, deselected=1)


def test_no_backend_at_all_skips_with_the_reason(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No URL, no engine, no redis-server on PATH: nothing can run Redis here.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    # Not a worker of this (xdist) run: its shared Redis must not be found.
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    inner.makepyfile("def test_needs_redis(ik_redis):\n    pass\n")
    result = inner.runpytest_subprocess("--ik-backend=auto", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no redis service*IK-SVC-NO-BACKEND*"])


def test_endpoint_fixtures(with_redis: pytest.Pytester, ik_redis: Endpoint) -> None:
    with_redis.makepyfile(
        f"""
        import redis

        def test_redis(ik_redis, ik_session):
            assert ik_redis.port == {ik_redis.port}
            assert redis.Redis(host=ik_redis.host, port=ik_redis.port).ping()
            assert [r.spec.key for r in ik_session.running()] == ["redis"]
        """
    )
    with_redis.runpytest_subprocess().assert_outcomes(passed=1)


def test_service_test_case_hooks_markers_and_loop(with_redis: pytest.Pytester) -> None:
    with_redis.makepyfile(
        """
        import asyncio
        import pytest
        import pytest_asyncio
        from integration_kit.services.base import Endpoint, RedisService
        from integration_kit.testcase import ServiceTestCase

        CALLS = []

        @pytest_asyncio.fixture(scope="session", loop_scope="session")
        async def session_loop():
            return asyncio.get_running_loop()

        class TestFirst(ServiceTestCase):
            services = [RedisService()]

            async def ik_setup_class(self, ctx):
                CALLS.append("setup_class")
                ctx.state["n"] = 0

            async def ik_setup(self, ctx):
                ctx.state["n"] += 1
                CALLS.append(f"setup{ctx.state['n']}")

            async def ik_teardown(self, ctx):
                CALLS.append("teardown")

            async def test_one(self, session_loop):
                assert isinstance(self.redis, Endpoint)
                assert asyncio.get_running_loop() is session_loop

            async def test_two(self, session_loop):
                assert asyncio.get_running_loop() is session_loop

        class TestSecond(ServiceTestCase):
            services = [RedisService()]

            async def test_same_loop_across_classes(self, session_loop):
                assert asyncio.get_running_loop() is session_loop

        def test_plain_is_not_marked():
            pass

        def test_calls():
            assert CALLS == ["setup_class", "setup1", "teardown", "setup2", "teardown"]
        """
    )
    result = with_redis.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=5)
    result = with_redis.runpytest_subprocess("-m", "integration")
    result.assert_outcomes(passed=3, deselected=2)


def test_failing_test_report_shows_the_process_output(with_redis: pytest.Pytester) -> None:
    with_redis.makepyfile(
        f"""
        import sys, urllib.request, urllib.error
        from integration_kit.services.process import HttpHealth, ProcessService
        from integration_kit.testcase import ServiceTestCase

        class TestApp(ServiceTestCase):
            services = [
                ProcessService(
                    name="app",
                    command=[sys.executable, {APP!r}, "{{port}}"],
                    env={{"REDIS_URL": "{{redis.url}}"}},
                    health=HttpHealth("/health"),
                )
            ]

            def test_fails(self):
                try:
                    urllib.request.urlopen(self.app.url + "/fail", timeout=5)
                except urllib.error.HTTPError as exc:
                    status = exc.code
                assert status == 200
        """
    )
    result = with_redis.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*integration-kit: output of app (call)*", "*about to answer 500 for /fail*"]
    )


def test_start_failure_errors_every_class_that_needs_it_once(with_redis: pytest.Pytester) -> None:
    with_redis.makepyfile(
        """
        import sys
        from integration_kit.services.process import ProcessService
        from integration_kit.testcase import ServiceTestCase

        CRASHER = ProcessService(
            name="crasher",
            command=[sys.executable, "-c", "print('boom: no config', flush=True); raise SystemExit(4)"],
        )

        class TestA(ServiceTestCase):
            services = [CRASHER]
            def test_a(self):
                pass

        class TestB(ServiceTestCase):
            services = [CRASHER]
            def test_b(self):
                pass
        """
    )
    result = with_redis.runpytest_subprocess()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        ["*IK-SVC-START-FAILED*crasher*IK-SVC-PROCESS-EXITED*code 4*", "*boom: no config*"]
    )


def test_service_test_case_in_asyncio_strict_mode(with_redis: pytest.Pytester) -> None:
    with_redis.makeini(INI.replace("asyncio_mode = auto", "asyncio_mode = strict"))
    with_redis.makepyfile(
        """
        import asyncio
        import pytest
        from integration_kit.services.base import RedisService
        from integration_kit.testcase import ServiceTestCase

        LOOPS = []

        class TestStrict(ServiceTestCase):
            services = [RedisService()]

            async def test_one(self):
                LOOPS.append(asyncio.get_running_loop())

            @pytest.mark.asyncio
            async def test_two_marked(self):
                LOOPS.append(asyncio.get_running_loop())

        def test_same_loop():
            assert len(LOOPS) == 2 and LOOPS[0] is LOOPS[1]
        """
    )
    with_redis.runpytest_subprocess().assert_outcomes(passed=3)
