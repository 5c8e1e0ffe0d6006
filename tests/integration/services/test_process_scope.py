"""A class's processes: scoped to the class (stopped before its topics go) or shared,
``{kafka.topic:<name>}`` placeholders per xdist worker, and one category marker per class."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from integration_kit import eventually
from integration_kit.kafka.admin import connect_admin
from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

APP = str(Path(__file__).parent / "apps" / "echo_consumer.py")
OUTER_RUN = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")
INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""
HEADER = f"""
import json, os, sys
from pathlib import Path
from integration_kit import KafkaTestCase
from integration_kit.services.namespace import current_worker
from integration_kit.services.process import ProcessService

def echo(scope="class"):
    return ProcessService(
        name="echo",
        command=[sys.executable, {APP!r}, "{{port}}", "{{kafka.bootstrap_servers}}",
                 "{{kafka.topic:orders}}", "{{kafka.topic:echoed}}"],
        scope=scope,
    )

def record(**fields):
    with Path({{out!r}}).open("a") as out:
        out.write(json.dumps({{"worker": current_worker(), **fields}}) + "\\n")
"""


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ik_kafka: Endpoint) -> pytest.Pytester:
    """Inner runs reach the outer run's Kafka through the external backend."""
    pytester.makeini(INI)
    for name in OUTER_RUN:  # the inner run is a run of its own, even when this one uses xdist
        monkeypatch.delenv(name, raising=False)
    for name in ("INTEGRATION_KIT_POSTGRES_URL", "INTEGRATION_KIT_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", ik_kafka.bootstrap_servers)
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", "auto")
    return pytester


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def pid_alive(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return True


CLASSES = """
class TestFirst(KafkaTestCase):
    kafka_topics = {"orders": 1, "echoed": 1}
    kafka_topic_naming = "unique"
    services = [echo(SCOPE)]

    async def test_echo(self):
        await self.kafka.send("orders", b"first")
        assert (await self.kafka.expect_message("echoed", within=20)).value == b"first"
        record(cls="first", pid=self.echo.pid, argv=self.echo.argv,
               topics=[self.kafka.topic("orders"), self.kafka.topic("echoed")])


class TestSecond(KafkaTestCase):
    kafka_topics = {"orders": 1, "echoed": 1}
    kafka_topic_naming = "unique"
    services = [echo(SCOPE)]

    async def test_echo(self):
        await self.kafka.send("orders", b"second")
        assert (await self.kafka.expect_message("echoed", within=20)).value == b"second"
        record(cls="second", pid=self.echo.pid, argv=self.echo.argv,
               topics=[self.kafka.topic("orders"), self.kafka.topic("echoed")])
"""


async def test_a_class_process_stops_before_its_topics_are_deleted(
    inner: pytest.Pytester, ik_kafka: Endpoint
) -> None:
    out = inner.path / "out.jsonl"
    inner.makepyfile(HEADER.replace("{out!r}", repr(str(out))) + 'SCOPE = "class"\n' + CLASSES)
    result = inner.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    first, second = records(out)
    # Each class had its own process, started on its own (unique) topics.
    assert first["pid"] != second["pid"]
    assert first["argv"][4:6] == first["topics"] and second["argv"][4:6] == second["topics"]
    assert not pid_alive(int(first["pid"])) and not pid_alive(int(second["pid"]))
    # The topics are gone for good: no consumer of the class outlived it to re-create them.
    admin = await connect_admin(ik_kafka.bootstrap_servers, timeout=30)
    try:
        names = {*first["topics"], *second["topics"]}

        async def left() -> set[str]:
            return names & set(await admin.list_topics())

        await eventually(left, equals=set(), timeout=20)
    finally:
        await admin.close()


def test_a_session_scoped_process_is_shared_by_the_classes(inner: pytest.Pytester) -> None:
    out = inner.path / "out.jsonl"
    inner.makepyfile(
        HEADER.replace("{out!r}", repr(str(out)))
        + """
SERVER = ProcessService(name="web", command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                        "{port}"], scope="session")
OWN = ProcessService(name="own", command=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                     "{port}"])

class TestFirst(KafkaTestCase):
    services = [SERVER, OWN]
    def test_pid(self):
        record(shared=self.web.pid, own=self.own.pid)

class TestSecond(KafkaTestCase):
    services = [SERVER, OWN]
    def test_pid(self):
        record(shared=self.web.pid, own=self.own.pid)
"""
    )
    result = inner.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=2)
    first, second = records(out)
    assert first["shared"] == second["shared"]
    assert first["own"] != second["own"]


def test_topic_placeholders_name_each_workers_topics_under_xdist(inner: pytest.Pytester) -> None:
    out = inner.path / "out.jsonl"
    inner.makepyfile(
        HEADER.replace("{out!r}", repr(str(out)))
        + 'SCOPE = "class"\n'
        + CLASSES.replace('kafka_topic_naming = "unique"', 'kafka_topic_naming = "recreate"')
    )
    result = inner.runpytest_subprocess("-n", "2", "--dist", "loadscope", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    rows = records(out)
    assert {row["worker"] for row in rows} == {"gw0", "gw1"}
    runs = set()
    for row in rows:
        worker = row["worker"]
        # Kafka is external here: every topic carries the run's prefix, ik.<run>.<worker>.
        assert row["argv"][4:6] == row["topics"]
        prefix = str(row["topics"][0]).removesuffix("orders")
        assert re.fullmatch(rf"ik\.[0-9a-z]+\.{worker}\.", prefix), row["topics"]
        assert row["topics"] == [f"{prefix}orders", f"{prefix}echoed"]
        runs.add(prefix.split(".")[1])
    assert len(runs) == 1  # one run id for all the run's workers


def test_each_class_gets_one_category_marker(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import sys
        import pytest
        from integration_kit.services.base import RedisService
        from integration_kit.services.process import ProcessService
        from integration_kit.testcase import ServiceTestCase

        APP = ProcessService(name="app", command=[sys.executable, "-c", "pass"])

        class TestStores(ServiceTestCase):
            services = [RedisService()]
            def test_a(self): pass

        class TestApp(ServiceTestCase):
            services = [APP]
            def test_b(self): pass

        @pytest.mark.contract
        class TestAppContract(ServiceTestCase):
            services = [APP]
            def test_c(self): pass
        """
    )
    for expression, selected in [
        ("integration", ["TestStores"]),
        ("e2e", ["TestApp"]),
        ("contract", ["TestAppContract"]),
        ("integration and e2e", []),
    ]:
        result = inner.runpytest_subprocess("--collect-only", "-q", "-m", expression)
        found = sorted({line.split("::")[1] for line in result.outlines if "::" in line})
        assert found == selected, expression


def test_a_topic_placeholder_needs_a_name() -> None:
    from integration_kit.errors import ErrorCode, raises_code
    from integration_kit.services.process import ProcessService

    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        ProcessService(name="app", command=[sys.executable, "{kafka.topic}"])
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION):
        ProcessService(name="app", command=[sys.executable], scope="module")
