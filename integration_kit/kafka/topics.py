"""Topic declarations and setup: delete, wait until gone, create, wait until ready.

``setup_kafka_topics(kafka, topics)`` is the robust replacement for the usual
"delete, create, hope" fixture. Every step runs under one deadline:

1. ``DeleteTopics``, then wait until no broker's metadata knows the topics;
2. ``CreateTopics``, retried with exponential backoff while the broker still answers
   "already exists" / "marked for deletion" (the old topic is being removed);
3. wait until every partition has a leader and a full ISR on every broker (and,
   with ``probe=True``, a record round-trips through each partition).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError as _DriverError

from integration_kit.errors import ErrorCode, KafkaArgumentError, KafkaError
from integration_kit.kafka.admin import KafkaTarget, admin_client, describe_topics_everywhere
from integration_kit.kafka.readiness import (
    NEVER_CHECKED,
    READY_BACKOFF,
    _poll_ready,
    never_checked,
    not_ready,
    probe_topics,
)
from integration_kit.waiting import Backoff

LEGAL_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
CREATE_BACKOFF = Backoff(initial=0.01, maximum=0.3)

# Broker error codes this module reacts to.
_OK = 0
_UNKNOWN_TOPIC = 3
_REQUEST_TIMED_OUT = 7
_TOPIC_EXISTS = 36
_NOT_CONTROLLER = 41
_RETRYABLE = {_REQUEST_TIMED_OUT, _NOT_CONTROLLER, 5, 6, 14, 15}  # + leader/coordinator churn


@dataclass(frozen=True)
class TopicSpec:
    """A topic to create: name, partitions, topic-level ``config``, replication factor."""

    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)
    replication_factor: int = 1

    def __post_init__(self) -> None:
        check_topic_name(self.name)
        for argument, value in (
            ("partitions", self.partitions),
            ("replication_factor", self.replication_factor),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise KafkaArgumentError(
                    ErrorCode.KAFKA_INVALID_ARGUMENT,
                    argument=f"{argument} of topic {self.name!r}",
                    value=value,
                    expected="an integer >= 1",
                )
        object.__setattr__(self, "config", {str(k): str(v) for k, v in dict(self.config).items()})

    def renamed(self, name: str) -> TopicSpec:
        """The same spec under another name (namespacing, unique names)."""
        return replace(self, name=name)


TopicsArg = str | TopicSpec | Sequence[str | TopicSpec] | Mapping[str, int | TopicSpec]


def check_topic_name(name: object) -> str:
    """``name`` if it is a legal Kafka topic name, else ``IK-KAFKA-INVALID-ARGUMENT``."""
    if not isinstance(name, str) or not LEGAL_TOPIC.match(name) or name in {".", ".."}:
        raise KafkaArgumentError(
            ErrorCode.KAFKA_INVALID_ARGUMENT,
            argument="topic name",
            value=name,
            expected="1-249 characters of [A-Za-z0-9._-], not '.' or '..'",
        )
    return name


def normalize_topics(topics: TopicsArg) -> list[TopicSpec]:
    """Turn names, ``{name: partitions}`` or :class:`TopicSpec` s into a list of specs."""
    if isinstance(topics, (str, TopicSpec)):
        topics = [topics]
    specs: list[TopicSpec] = []
    if isinstance(topics, Mapping):
        for name, value in topics.items():
            if isinstance(value, TopicSpec):
                specs.append(value.renamed(check_topic_name(name)))
            else:
                specs.append(TopicSpec(check_topic_name(name), partitions=value))
    elif isinstance(topics, Sequence):
        for item in topics:
            specs.append(item if isinstance(item, TopicSpec) else TopicSpec(check_topic_name(item)))
    else:
        raise KafkaArgumentError(
            ErrorCode.KAFKA_INVALID_ARGUMENT,
            argument="topics",
            value=topics,
            expected="a topic name, a list of names or TopicSpecs, or a mapping name -> partitions",
        )
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise KafkaArgumentError(
                ErrorCode.KAFKA_INVALID_ARGUMENT, argument="topics", value=spec.name, expected="unique names"
            )
        seen.add(spec.name)
    return specs


def _names(topics: TopicsArg) -> list[str]:
    return [spec.name for spec in normalize_topics(topics)]


async def delete_topics(
    kafka: KafkaTarget, topics: TopicsArg, *, timeout: float = 10.0, wait: bool = True
) -> None:
    """Delete ``topics`` (missing ones are fine); with ``wait``, until no broker knows them.

    ``IK-KAFKA-TOPIC-NOT-READY`` if a deletion is still not visible at the deadline.
    """
    names = _names(topics)
    if not names:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with admin_client(kafka, timeout=timeout) as admin:
        await _delete(admin, names, deadline, timeout)
        if wait:
            await _wait_deleted(admin, names, deadline, timeout)


async def create_topics(
    kafka: KafkaTarget,
    topics: TopicsArg,
    *,
    timeout: float = 10.0,
    wait: bool = True,
    probe: bool = False,
    exist_ok: bool = False,
) -> list[TopicSpec]:
    """Create ``topics``; with ``wait``, return only once they are ready.

    "Already exists" / "marked for deletion" answers are retried with exponential
    backoff until the deadline (the old topic is still going away), unless
    ``exist_ok``. Refusals that retrying cannot fix (bad config, policy) raise
    ``IK-KAFKA-ADMIN-FAILED``; the deadline raises ``IK-KAFKA-TOPIC-NOT-READY``.
    """
    specs = normalize_topics(topics)
    if not specs:
        return specs
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with admin_client(kafka, timeout=timeout) as admin:
        await _create(admin, specs, deadline, timeout, exist_ok=exist_ok)
        if wait:
            await _wait_ready(admin, specs, deadline, timeout, probe=probe)
    return specs


async def setup_kafka_topics(
    kafka: KafkaTarget, topics: TopicsArg, *, timeout: float = 30.0, probe: bool = False
) -> list[TopicSpec]:
    """Recreate ``topics`` fresh and return once they are ready (see module doc).

    ``kafka``: bootstrap servers, an endpoint or a started admin client. ``topics``:
    names, ``{name: partitions}`` or :class:`TopicSpec` s. Raises
    ``IK-KAFKA-TOPIC-NOT-READY`` naming the topics and partitions still not ready,
    ``IK-KAFKA-UNREACHABLE`` if no broker answers.
    """
    specs = normalize_topics(topics)
    names = [spec.name for spec in specs]
    if not specs:
        return specs
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with admin_client(kafka, timeout=timeout) as admin:
        await _delete(admin, names, deadline, timeout)
        await _wait_deleted(admin, names, deadline, timeout)
        await _create(admin, specs, deadline, timeout, exist_ok=False)
        await _wait_ready(admin, specs, deadline, timeout, probe=probe)
    return specs


def _remaining(deadline: float) -> float:
    return deadline - asyncio.get_running_loop().time()


async def _delete(admin: AIOKafkaAdminClient, names: list[str], deadline: float, timeout: float) -> None:
    pending = list(names)
    last: dict[str, list[str]] = {}
    for delay in CREATE_BACKOFF.delays():
        remaining = _remaining(deadline)
        if remaining <= 0:
            break
        try:
            response = await asyncio.wait_for(
                admin.delete_topics(pending, timeout_ms=max(int(remaining * 1000), 1)), remaining
            )
        except (TimeoutError, _DriverError, OSError) as exc:
            last = {name: [f"delete request failed: {exc!r}"] for name in pending}
        else:
            retry: list[str] = []
            for topic, code, *_ in response.topic_error_codes:
                if code in (_OK, _UNKNOWN_TOPIC, _REQUEST_TIMED_OUT):
                    continue  # gone, never there, or going: _wait_deleted checks
                if code in _RETRYABLE:
                    retry.append(topic)
                    last[topic] = [f"delete answered error {code}"]
                    continue
                raise KafkaError(
                    ErrorCode.KAFKA_ADMIN_FAILED,
                    operation="delete",
                    topic=topic,
                    cause=f"broker error code {code}",
                    fix="Check that topic deletion is enabled (delete.topic.enable) and allowed.",
                    error_code=code,
                )
            pending = retry
            if not pending:
                return
        remaining = _remaining(deadline)
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise not_ready(timeout, last or {name: ["delete never answered"] for name in pending})


async def _wait_deleted(
    admin: AIOKafkaAdminClient, names: list[str], deadline: float, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    still: dict[str, list[str]] = {name: [NEVER_CHECKED] for name in names}
    for delay in READY_BACKOFF.delays():
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            views = await asyncio.wait_for(describe_topics_everywhere(admin, names), remaining)
        except (TimeoutError, _DriverError, OSError) as exc:
            if not isinstance(exc, TimeoutError) or never_checked(still):
                still = {name: [f"metadata request failed: {exc!r}"] for name in names}
        else:
            still = {}
            for node, view in views.items():
                for name in names:
                    info = view.get(name)
                    if info is not None and info.exists:
                        still.setdefault(name, []).append(f"deletion not yet visible (broker {node})")
            if not still:
                return
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise not_ready(timeout, still)


async def _create(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], deadline: float, timeout: float, *, exist_ok: bool
) -> None:
    pending = {spec.name: spec for spec in specs}
    maybe_created: set[str] = set()  # a timed-out create may still complete
    last: dict[str, list[str]] = {}
    for delay in CREATE_BACKOFF.delays():
        remaining = _remaining(deadline)
        if remaining <= 0:
            break
        new_topics = [
            NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config))
            for s in pending.values()
        ]
        try:
            response = await asyncio.wait_for(
                admin.create_topics(new_topics, timeout_ms=max(int(remaining * 1000), 1)), remaining
            )
        except (TimeoutError, _DriverError, OSError) as exc:
            last = {name: [f"create request failed: {exc!r}"] for name in pending}
        else:
            for topic, code, *rest in response.topic_errors:
                message = rest[0] if rest and rest[0] else ""
                if code == _OK or (
                    code == _TOPIC_EXISTS
                    and (topic in maybe_created or exist_ok)
                    and ("marked for deletion" not in message)
                ):
                    pending.pop(topic, None)
                elif code == _TOPIC_EXISTS:
                    last[topic] = [f"still exists ({message or 'TopicExistsException'})"]
                elif code == _REQUEST_TIMED_OUT:
                    maybe_created.add(topic)
                    last[topic] = ["create timed out on the broker"]
                elif code in _RETRYABLE:
                    last[topic] = [f"create answered error {code}: {message}"]
                else:
                    raise KafkaError(
                        ErrorCode.KAFKA_ADMIN_FAILED,
                        operation="create",
                        topic=topic,
                        cause=f"broker error code {code}: {message}",
                        fix="Fix the TopicSpec (partitions, replication_factor, config) the broker refused.",
                        error_code=code,
                    )
            if not pending:
                return
        remaining = _remaining(deadline)
        if remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
    raise not_ready(
        timeout,
        {
            name: [
                *last.get(name, ["create never answered"]),
                "is a client auto-creating it? set auto.create.topics.enable=false",
            ]
            for name in pending
        },
    )


async def _wait_ready(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], deadline: float, timeout: float, *, probe: bool
) -> None:
    expected: dict[str, int | None] = {spec.name: spec.partitions for spec in specs}
    problems = await _poll_ready(admin, expected, deadline, READY_BACKOFF)
    if problems:
        raise not_ready(timeout, problems)
    if probe:
        try:
            await asyncio.wait_for(probe_topics(admin, expected), max(_remaining(deadline), 0.001))
        except (TimeoutError, _DriverError, OSError) as exc:
            raise not_ready(timeout, {n: [f"probe failed: {exc!r}"] for n in expected}) from exc
