"""``KafkaHandle``: what a test touches (``self.kafka``), usable on its own as well::

    async with KafkaHandle(endpoint.bootstrap_servers, topics={"orders": "gw0.orders"}) as kafka:
        await kafka.send("orders", {"id": 7}, key="7")
        message = await kafka.expect_message("orders", where=lambda m: m.json()["id"] == 7)

Assertions read with their own group-less consumers, from the offsets recorded by
:meth:`KafkaHandle.mark` (the test's start) or from the beginning of the topic, so
they see messages produced before the call and never disturb the groups under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError as _DriverError
from aiokafka.structs import RecordMetadata

from integration_kit.errors import ErrorCode, KafkaError
from integration_kit.kafka.admin import unreachable
from integration_kit.kafka.consumers import create_test_consumer, start_with_deadline
from integration_kit.kafka.messages import Headers, Message, encode_headers, encode_key, encode_value
from integration_kit.kafka.readiness import not_ready
from integration_kit.services.namespace import Namespace
from integration_kit.waiting import Backoff

Predicate = Callable[[Message], Any]
_EXISTS_BACKOFF = Backoff(initial=0.01, maximum=0.2)


class _Reader:
    """A group-less consumer assigned to every partition of one topic, keeping what it read."""

    def __init__(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> None:
        self.consumer = consumer
        self.partitions = partitions
        self.seen: list[Message] = []

    async def poll(self, timeout: float) -> None:
        batches = await self.consumer.getmany(timeout_ms=max(int(timeout * 1000), 0))
        fresh = [Message.from_record(r) for records in batches.values() for r in records]
        fresh.sort(key=lambda m: (m.timestamp, m.partition, m.offset))
        self.seen.extend(fresh)

    async def read_to_end(self) -> None:
        end = await self.consumer.end_offsets(self.partitions)
        while True:
            positions = {tp: await self.consumer.position(tp) for tp in self.partitions}
            if all(positions[tp] >= end[tp] for tp in self.partitions):
                return
            await self.poll(0.05)


async def start_reading_consumer(servers: str, *, timeout: float) -> AIOKafkaConsumer:
    """A started consumer without a group (reads from the earliest offset, commits nothing):
    what a handle reads topics and their offsets with."""
    consumer: AIOKafkaConsumer = await start_with_deadline(
        lambda: AIOKafkaConsumer(
            bootstrap_servers=servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            retry_backoff_ms=20,
        ),
        servers,
        timeout=timeout,
    )
    return consumer


async def track_topics(consumer: AIOKafkaConsumer, names: Iterable[str]) -> None:
    """Have the consumer's client keep metadata of ``names`` before ``end_offsets`` asks them.

    ``end_offsets`` looks each partition's leader up in the client's own metadata; a
    topic the client does not track yet costs a refresh and the driver's retry backoff
    there (about 60 ms per newly created topic set). Correctness does not depend on it:
    ``end_offsets`` refreshes by itself when the metadata is stale.
    """
    await asyncio.gather(*(consumer._client.add_topic(name) for name in names))


class KafkaHandle:
    """Send, consume and assert on messages against one Kafka cluster.

    ``topics`` maps the names a test declares to their real (namespaced or unique)
    names; other names go through the worker's :class:`Namespace`. ``timeout``
    bounds connecting and reading to the end of a topic.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topics: Mapping[str, str] | None = None,
        namespace: Namespace | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self._topics = dict(topics or {})
        self._namespace = namespace if namespace is not None else Namespace.current()
        self._producer: AIOKafkaProducer | None = None
        self._readers: dict[str, _Reader] = {}
        self._consumers: list[AIOKafkaConsumer] = []
        self._marks: dict[TopicPartition, int] = {}

    # --- names ---
    def topic(self, name: str) -> str:
        """The real name of ``name``: declared mapping, else the worker's namespace."""
        if name in self._topics:
            return self._topics[name]
        if name in self._topics.values():
            return name
        return self._namespace.topic(name)

    @property
    def topics(self) -> dict[str, str]:
        """Declared name -> real name."""
        return dict(self._topics)

    # --- producing ---
    async def send(
        self,
        topic: str,
        value: Any,
        *,
        key: Any = None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> RecordMetadata:
        """Produce one message and wait for the broker's ack (``acks="all"``).

        ``value``: dicts/lists as JSON, ``str`` as UTF-8, ``bytes`` as is.
        """
        payload = encode_value(value)
        encoded_key = encode_key(key)
        encoded_headers = encode_headers(headers)
        producer = await self._get_producer()
        real = self.topic(topic)
        try:
            return await producer.send_and_wait(
                real, payload, key=encoded_key, headers=encoded_headers, partition=partition
            )
        except _DriverError as exc:
            raise not_ready(self.timeout, {real: [f"send failed: {exc!r}"]}) from exc

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            servers = self.bootstrap_servers
            self._producer = await start_with_deadline(
                lambda: AIOKafkaProducer(
                    bootstrap_servers=servers,
                    acks="all",
                    linger_ms=0,
                    request_timeout_ms=int(self.timeout * 1000),
                    retry_backoff_ms=20,
                ),
                servers,
                timeout=self.timeout,
            )
        return self._producer

    # --- consuming ---
    async def consumer(self, *topics: str, group_id: str | None = None, **kwargs: Any) -> AIOKafkaConsumer:
        """A started consumer owning every partition of ``topics`` (unique group, earliest).

        Stopped when the handle closes. ``kwargs`` go to ``AIOKafkaConsumer``.
        """
        kwargs.setdefault("timeout", self.timeout)
        consumer = await create_test_consumer(
            self.bootstrap_servers, *(self.topic(t) for t in topics), group_id=group_id, **kwargs
        )
        self._consumers.append(consumer)
        return consumer

    async def mark(
        self, topics: Iterable[str] | None = None, *, using: AIOKafkaConsumer | None = None
    ) -> None:
        """Record the end offsets of ``topics`` (default: the declared ones) as the start.

        Later assertions only see messages produced after this call. ``using``: a started
        consumer without a group to ask (kept by the caller, e.g. one per test class, so
        each mark need not connect anew); else one is started and stopped for this call.
        """
        names = [self.topic(t) for t in (self._topics if topics is None else topics)]
        if not names:
            return
        consumer = using if using is not None else await self._start_consumer()
        try:
            cluster = await consumer._client.fetch_all_metadata()
            partitions = [
                TopicPartition(name, number)
                for name in names
                for number in sorted(cluster.partitions_for_topic(name) or ())
            ]
            if partitions:
                await track_topics(consumer, {tp.topic for tp in partitions})
                ends = await asyncio.wait_for(consumer.end_offsets(partitions), self.timeout)
                self._marks.update(ends)
        except (TimeoutError, _DriverError) as exc:
            raise unreachable(self.bootstrap_servers, self.timeout, repr(exc)) from exc
        finally:
            if using is None:
                await consumer.stop()

    async def messages(self, topic: str) -> list[Message]:
        """Every message on ``topic`` so far (since the mark), in timestamp order."""
        real = self.topic(topic)
        reader = await self._reader(real, within=0.0)
        if reader is None:
            return []
        try:
            await asyncio.wait_for(reader.read_to_end(), self.timeout)
        except (TimeoutError, _DriverError) as exc:
            raise unreachable(self.bootstrap_servers, self.timeout, repr(exc)) from exc
        return sorted(reader.seen, key=lambda m: (m.timestamp, m.partition, m.offset))

    async def expect_message(
        self, topic: str, *, where: Predicate | None = None, within: float = 5.0
    ) -> Message:
        """The first message on ``topic`` (since the mark) for which ``where`` is true.

        Waits up to ``within`` seconds; ``IK-KAFKA-NO-MESSAGE`` if none matches. A
        predicate that raises counts as "no match" (the last error is in the context).
        """
        real = self.topic(topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        reader = await self._reader(real, within=within)
        checked = 0
        last_error: BaseException | None = None
        while reader is not None:
            for message in reader.seen[checked:]:
                matched, error = _matches(where, message)
                last_error = error or last_error
                if matched:
                    return message
            checked = len(reader.seen)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await reader.poll(min(remaining, 0.1))
        raise KafkaError(
            ErrorCode.KAFKA_NO_MESSAGE,
            topic=real,
            within=within,
            seen=checked,
            predicate_error=repr(last_error) if last_error else None,
            hint=None
            if last_error is None
            else f"The predicate raised {last_error!r} on some messages; check it.",
        )

    async def expect_no_message(
        self, topic: str, *, where: Predicate | None = None, within: float = 1.0
    ) -> None:
        """Watch ``topic`` (since the mark) for ``within`` seconds; no message may match ``where``.

        ``IK-KAFKA-UNEXPECTED-MESSAGE`` as soon as one does.
        """
        real = self.topic(topic)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        reader = await self._reader(real, within=within)
        checked = 0
        while reader is not None:
            for message in reader.seen[checked:]:
                if _matches(where, message)[0]:
                    raise KafkaError(
                        ErrorCode.KAFKA_UNEXPECTED_MESSAGE, topic=real, message=message.short(), found=message
                    )
            checked = len(reader.seen)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await reader.poll(min(remaining, 0.1))

    async def _reader(self, real: str, *, within: float) -> _Reader | None:
        """The reader of ``real``, made once the topic exists (None if not within ``within``)."""
        if real in self._readers:
            return self._readers[real]
        consumer = await self._start_consumer()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        numbers: set[int] | None = None
        try:
            for delay in _EXISTS_BACKOFF.delays():
                cluster = await asyncio.wait_for(consumer._client.fetch_all_metadata(), self.timeout)
                numbers = cluster.partitions_for_topic(real)
                remaining = deadline - loop.time()
                if numbers or remaining <= 0:
                    break
                await asyncio.sleep(min(delay, remaining))
        except (TimeoutError, _DriverError) as exc:
            await consumer.stop()
            raise unreachable(self.bootstrap_servers, self.timeout, repr(exc)) from exc
        if not numbers:
            await consumer.stop()
            return None
        partitions = [TopicPartition(real, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        for tp in partitions:
            if tp in self._marks:
                consumer.seek(tp, self._marks[tp])
        reader = self._readers[real] = _Reader(consumer, partitions)
        return reader

    async def _start_consumer(self) -> AIOKafkaConsumer:
        return await start_reading_consumer(self.bootstrap_servers, timeout=self.timeout)

    # --- lifecycle ---
    async def aclose(self) -> None:
        """Stop every client the handle started."""
        clients: list[Any] = [*self._consumers, *(r.consumer for r in self._readers.values())]
        if self._producer is not None:
            clients.append(self._producer)
        self._consumers.clear()
        self._readers.clear()
        self._producer = None
        for client in clients:
            with contextlib.suppress(Exception):
                await client.stop()

    async def __aenter__(self) -> KafkaHandle:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _matches(where: Predicate | None, message: Message) -> tuple[bool, BaseException | None]:
    if where is None:
        return True, None
    try:
        return bool(where(message)), None
    except Exception as exc:
        return False, exc
