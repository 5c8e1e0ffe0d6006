"""``KafkaTestCase``: fresh, verified-ready topics per class or per test, and ``self.kafka``.

::

    class TestOrders(KafkaTestCase):
        kafka_topics = {"orders": 3, "orders.dlq": 1}
        kafka_topic_scope = "function"      # "class" (default) or "function"
        kafka_topic_naming = "unique"       # "recreate" (default) or "unique"

        async def test_order_is_forwarded(self):
            await self.kafka.send("orders", {"id": 7}, key="7")
            message = await self.kafka.expect_message("orders", where=lambda m: m.json()["id"] == 7)

The hooks only call into the layer (``setup_kafka_topics``, ``check_topics_accessible``,
``KafkaHandle``); see ``integration_kit/testcase.py`` for the hook protocol.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from integration_kit.declarations import (
    Invalid,
    Option,
    callables,
    declared,
    one_of,
    positive_number,
    state_key,
)
from integration_kit.errors import KafkaError
from integration_kit.kafka.admin import connect_admin
from integration_kit.kafka.handle import KafkaHandle, start_reading_consumer
from integration_kit.kafka.ownership import (
    Cluster,
    check_not_foreign,
    cluster_of,
    reap_leftovers,
)
from integration_kit.kafka.readiness import check_topics_accessible
from integration_kit.kafka.topics import (
    TopicsArg,
    TopicSpec,
    create_topics,
    delete_topics,
    normalize_topics,
    setup_kafka_topics,
)
from integration_kit.seeding import hooks
from integration_kit.services.base import KafkaService
from integration_kit.services.namespace import Namespace
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import OwnershipRegistry
from integration_kit.testcase import ClassContext, ServiceTestCase

TOPIC_SCOPES = ("class", "function")
TOPIC_NAMINGS = ("recreate", "unique")
_STATE_KEY = state_key("kafka")
_SEED_STORE_KEY = state_key("kafka", "seed")


@dataclass
class _KafkaClassState:
    bootstrap_servers: str
    admin: AIOKafkaAdminClient
    specs: list[TopicSpec]
    cluster: Cluster
    registry: OwnershipRegistry
    me: Owner = field(default_factory=Owner.current)
    real: dict[str, str] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    #: Topics ``--ik-keep-failed`` keeps for inspection: never deleted by the class.
    kept: set[str] = field(default_factory=set)
    #: The consumer each test's ``mark`` asks for end offsets (one per class, kept connected).
    offsets: AIOKafkaConsumer | None = None

    async def offsets_consumer(self) -> AIOKafkaConsumer:
        if self.offsets is None:
            self.offsets = await start_reading_consumer(self.bootstrap_servers, timeout=10.0)
        return self.offsets

    async def delete(self, names: list[str]) -> None:
        """Delete ``names`` (without waiting), then forget them in the registry."""
        self.created.difference_update(names)
        if names:
            await delete_topics(self.admin, names, wait=False)
            self.registry.forget(self.cluster, names, self.me)

    async def cleanup(self) -> None:
        """Delete every topic the class created and does not keep (without waiting)."""
        if self.offsets is not None:
            offsets, self.offsets = self.offsets, None
            await offsets.stop()
        await self.delete(sorted(self.created - self.kept))
        if self.kept:  # --ik-keep-failed's records own them now: no reaper may take them
            self.registry.forget(self.cluster, sorted(self.kept), self.me)
        self.created.clear()


_TOPICS_EXPECTED = "a list of topic names / TopicSpecs, or a mapping name -> partitions (int >= 1)"


def _topic_specs(topics: Any) -> list[TopicSpec]:
    """``kafka_topics`` as specs (names, ``{name: partitions}`` or TopicSpecs)."""
    if isinstance(topics, (str, bytes)) or not isinstance(topics, (list, tuple, Mapping)):
        raise Invalid(_TOPICS_EXPECTED)
    try:
        return normalize_topics(topics)
    except KafkaError as exc:
        raise Invalid(f"{_TOPICS_EXPECTED} ({exc.message})") from exc


def _real_names(specs: list[TopicSpec], namespace: Namespace, *, unique: bool) -> dict[str, str]:
    token = uuid.uuid4().hex[:8]
    return {s.name: namespace.topic(f"{s.name}.{token}" if unique else s.name) for s in specs}


class KafkaTestCase(ServiceTestCase):
    """Base class for tests that need Kafka topics; ``self.kafka`` is a :class:`KafkaHandle`.

    Class attributes: ``kafka_topics`` (names, ``{name: partitions}`` or TopicSpecs),
    ``kafka_topic_scope`` (``"class"``: set up once per class, each test sees only the
    messages produced after it started; ``"function"``: fresh topics per test),
    ``kafka_topic_naming`` (``"recreate"``: delete and recreate the namespaced name;
    ``"unique"``: a new name per class/test, faster, deleted afterwards),
    ``kafka_setup_timeout`` (seconds), ``kafka_seed`` (scenarios or callables taking a
    KafkaHandle, run once per class after the topics exist; with function-scoped topics
    their messages are sent again into each test's topics). Names are namespaced per
    xdist worker, or carry the run's prefix (``ik.<run>.<worker>.`` on the external
    backend, the ``kafka_topic_prefix`` setting). A declared topic that already exists and
    was not created by the kit in this process is never deleted: ``IK-KAFKA-TOPIC-FOREIGN``
    at setup; see :mod:`integration_kit.kafka.ownership`.
    """

    ik_requires: ClassVar = (KafkaService(),)
    ik_options: ClassVar = (
        Option("kafka_topics", (), _topic_specs),
        Option("kafka_topic_scope", "class", one_of(*TOPIC_SCOPES)),
        Option("kafka_topic_naming", "recreate", one_of(*TOPIC_NAMINGS)),
        Option("kafka_setup_timeout", 30.0, positive_number),
        Option("kafka_seed", (), callables),
    )
    kafka_topics: ClassVar[TopicsArg] = ()
    kafka_topic_scope: ClassVar[str] = "class"
    kafka_topic_naming: ClassVar[str] = "recreate"
    kafka_setup_timeout: ClassVar[float] = 30.0
    kafka_seed: ClassVar[Sequence[Callable[..., Any]]] = ()
    kafka: KafkaHandle

    async def ik_setup_class(self, ctx: ClassContext) -> None:
        await super().ik_setup_class(ctx)
        store = await self._ik_kafka_store(ctx)
        await hooks.store_ready(self, ctx, "kafka", store)  # seeds run once every store is set up

    async def _ik_kafka_store(self, ctx: ClassContext) -> Any:
        """Set up the class's topics once; return what seeding sends through (a KafkaHandle
        on the class's topics, or a recorder with function-scoped topics)."""
        found = ctx.state.get(_SEED_STORE_KEY)
        if found is not None:
            return found
        specs: list[TopicSpec] = declared(type(self), "kafka_topics")
        servers = ctx.endpoint("kafka").bootstrap_servers
        admin = await connect_admin(servers, timeout=declared(type(self), "kafka_setup_timeout"))
        ctx.exit_stack.push_async_callback(admin.close)
        registry = OwnershipRegistry.for_settings(ctx.resolved_settings())
        cluster = await cluster_of(admin, servers)
        await reap_leftovers(admin, cluster, registry)  # topics of a killed run of this host
        state = _KafkaClassState(servers, admin, specs, cluster, registry)
        ctx.exit_stack.push_async_callback(state.cleanup)
        ctx.state[_STATE_KEY] = state
        if self.kafka_topic_scope == "class":
            await self._ik_kafka_setup_topics(ctx, state)
            # The app under test (a ProcessService of this class) reads and writes these.
            ctx.process_topics.update(state.real)
            handle = KafkaHandle(state.bootstrap_servers, topics=state.real, namespace=ctx.namespace)
            ctx.exit_stack.push_async_callback(handle.aclose)
            store: Any = handle
        else:
            store = hooks.recording_kafka()
        ctx.state[_SEED_STORE_KEY] = store
        return store

    async def ik_setup(self, ctx: ClassContext) -> None:
        await super().ik_setup(ctx)
        state: _KafkaClassState = ctx.state[_STATE_KEY]
        if self.kafka_topic_scope == "function":
            await self._ik_kafka_setup_topics(ctx, state)
        elif state.real:
            await check_topics_accessible(
                state.admin, {state.real[s.name]: s.partitions for s in state.specs}, timeout=5.0
            )
        handle = KafkaHandle(state.bootstrap_servers, topics=state.real, namespace=ctx.namespace)
        await hooks.attach(ctx, "kafka", handle)  # function-scoped topics get the seeded messages
        if self.kafka_topic_scope == "class":
            await handle.mark(using=await state.offsets_consumer())
        self.kafka = handle

    async def ik_teardown(self, ctx: ClassContext) -> None:
        try:
            handle = getattr(self, "kafka", None)
            if handle is not None:
                await handle.aclose()
            state: _KafkaClassState | None = ctx.state.get(_STATE_KEY)
            if (
                state is not None
                and self.kafka_topic_scope == "function"
                and self.kafka_topic_naming == "unique"
            ):
                await state.delete(sorted(set(state.real.values()) - state.kept))
        finally:
            await super().ik_teardown(ctx)

    async def _ik_kafka_setup_topics(self, ctx: ClassContext, state: _KafkaClassState) -> None:
        unique = self.kafka_topic_naming == "unique"
        state.real = _real_names(state.specs, ctx.namespace, unique=unique)
        if not state.specs:
            return
        specs = [spec.renamed(state.real[spec.name]) for spec in state.specs]
        names = sorted(state.real.values())
        # a declared topic that exists and is not the kit's is never deleted or reused
        new = await check_not_foreign(
            state.admin,
            state.cluster,
            names,
            owner=type(self).__qualname__,
            registry=state.registry,
            me=state.me,
        )
        state.registry.record(state.cluster, new, state.me)  # before creating: a kill leaves the row
        state.created.update(names)
        if unique:
            await create_topics(state.admin, specs, timeout=self.kafka_setup_timeout)
        else:
            await setup_kafka_topics(state.admin, specs, timeout=self.kafka_setup_timeout)
