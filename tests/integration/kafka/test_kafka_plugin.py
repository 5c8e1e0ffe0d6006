"""KafkaTestCase run by the real plugin, in a pytester session (also under xdist)."""

from __future__ import annotations

import uuid

import pytest

from integration_kit import pytest_plugin
from integration_kit.kafka.admin import admin_client, describe_topics_everywhere

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not hasattr(pytest_plugin, "_ik_case"), reason="the plugin does not run ServiceTestCase hooks yet"
    ),
]

CASES = """
from integration_kit.kafka.testcase import KafkaTestCase


class TestClassScope(KafkaTestCase):
    kafka_topics = {"STEM.orders": 3, "STEM.dlq": 1}

    async def test_1_send_and_expect(self):
        await self.kafka.send("STEM.orders", {"id": 1}, key="1")
        message = await self.kafka.expect_message("STEM.orders", where=lambda m: m.json()["id"] == 1)
        assert message.key == b"1"
        await self.kafka.expect_no_message("STEM.dlq", within=0.2)

    async def test_2_sees_only_its_own_messages(self):
        await self.kafka.expect_no_message("STEM.orders", within=0.2)
        consumer = await self.kafka.consumer("STEM.orders")
        assert len(consumer.assignment()) == 3


class TestFunctionScope(KafkaTestCase):
    kafka_topics = ["STEM.jobs"]
    kafka_topic_scope = "function"
    kafka_topic_naming = "unique"

    async def test_a(self):
        assert await self.kafka.messages("STEM.jobs") == []
        await self.kafka.send("STEM.jobs", "a")

    async def test_b(self):
        assert await self.kafka.messages("STEM.jobs") == []
        await self.kafka.send("STEM.jobs", "b")
"""


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_kafka_test_case_under_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, kafka_servers: str, workers: str | None
) -> None:
    # the inner run reaches this run's broker, whatever backend started it, as an external one
    monkeypatch.setenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", kafka_servers)
    stem = f"ik-test.plugin.{uuid.uuid4().hex[:8]}"
    pytester.makepyfile(test_cases=CASES.replace("STEM", stem))
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    args = ["-p", "no:cacheprovider", "--ik-backend", "external"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4)
    assert not _leftovers(kafka_servers, stem)


def _leftovers(servers: str, stem: str) -> list[str]:
    import asyncio

    async def find() -> list[str]:
        async with admin_client(servers) as admin:
            topics = await admin.list_topics()
            views = await describe_topics_everywhere(admin, [t for t in topics if stem in t])
        return sorted({name for view in views.values() for name, info in view.items() if info.exists})

    return asyncio.run(find())
