"""The seeding context: the stores factories write to and the random state they draw from.

A :class:`SeedContext` is active for one test (the plugin enters one per test, seeded
from the run seed and the test's node id), one scenario, or one ``with seeding.use(...)``
block. While it is active:

- factory_boy's and Faker's shared random generator is seeded from ``ctx.seed`` (the
  previous state comes back when the context ends);
- ``factory.Sequence`` counters of the kit's factories start afresh, so a test's ids do
  not depend on which tests ran before it;
- factories find their stores (an asyncpg connection, a :class:`KafkaHandle`, a
  :class:`RedisKit` or Redis client) in ``ctx.stores``.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from integration_kit.errors import ErrorCode, SeedError

_CURRENT: contextvars.ContextVar[SeedContext | None] = contextvars.ContextVar(
    "integration_kit_seed_context", default=None
)
STORES = ("postgres", "kafka", "redis")


def derive_seed(run_seed: int, name: str) -> int:
    """A 64-bit seed for ``name`` (a test node id, ``scenario:<name>``) within a run."""
    digest = hashlib.sha256(f"{run_seed}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass
class Stores:
    """Where factories write. ``postgres``: an asyncpg connection or an object with a
    ``connection`` attribute (``self.postgres`` of a test); ``kafka``: a
    :class:`~integration_kit.kafka.handle.KafkaHandle`; ``redis``: a
    :class:`~integration_kit.redis.kit.RedisKit` or a ``redis.asyncio.Redis``."""

    postgres: Any = None
    kafka: Any = None
    redis: Any = None

    def merged(self, other: Stores) -> Stores:
        """These stores, with the ones ``other`` sets taking their place."""
        return Stores(**{name: getattr(other, name) or getattr(self, name) for name in STORES})


@dataclass
class UsedStores(Stores):
    """Stores that remember which of ``redis`` and ``kafka`` were handed out (read while
    set): a scenario or factory that writes to one has to get it from here first. A
    keyed snapshot is kept across runs only when its seeding used neither."""

    used: set[str] = field(default_factory=set)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in ("redis", "kafka") and value is not None:
            object.__getattribute__(self, "used").add(name)
        return value


@dataclass
class SeedContext:
    """One deterministic seeding scope (see the module docstring)."""

    run_seed: int
    name: str
    stores: Stores = field(default_factory=Stores)
    sequences: dict[Any, int] = field(default_factory=dict)
    #: Scenario name -> its result, for the scenarios run in this context's run.
    results: dict[str, Any] = field(default_factory=dict)
    #: Kafka messages (``OutgoingMessage``) sent by factories in this context, in order.
    sent: list[Any] = field(default_factory=list)
    #: Called as ``progress(store, count)`` after each write (rows, messages, keys).
    progress: Callable[[str, int], None] | None = None

    def report(self, store: str, count: int) -> None:
        if self.progress is not None:
            self.progress(store, count)

    @property
    def seed(self) -> int:
        """The seed of this context's random state: derived from the run seed and the name."""
        return derive_seed(self.run_seed, self.name)

    def store(self, kind: str, factory_name: str) -> Any:
        """The open store of ``kind`` (``IK-SEED-NO-STORE`` without one)."""
        value = getattr(self.stores, kind)
        if value is None:
            raise SeedError(ErrorCode.SEED_NO_STORE, factory=factory_name, store=kind)
        return value

    def next_sequence(self, counter: Any, first: int) -> int:
        """The next value of ``counter`` (a factory's shared counter) in this context."""
        value = self.sequences.get(counter, first)
        self.sequences[counter] = value + 1
        return value

    def child(self, name: str, *, stores: Stores | None = None) -> SeedContext:
        """A context of the same run for ``name``, with fresh sequences and random state."""
        return replace(
            self,
            name=name,
            stores=self.stores if stores is None else self.stores.merged(stores),
            sequences={},
            sent=[],
            progress=self.progress,
        )


def current() -> SeedContext | None:
    """The active context, or None outside any."""
    return _CURRENT.get()


def require(factory_name: str, kind: str) -> Any:
    """The store of ``kind`` of the active context (``IK-SEED-NO-STORE`` if none)."""
    ctx = _CURRENT.get()
    if ctx is None:
        raise SeedError(ErrorCode.SEED_NO_STORE, factory=factory_name, store=kind)
    return ctx.store(kind, factory_name)


@contextlib.contextmanager
def activate(ctx: SeedContext) -> Iterator[SeedContext]:
    """Make ``ctx`` the active context; seed the random state; restore both afterwards."""
    generator: Any
    try:
        import factory.random as generator  # factory_boy's generator, shared with Faker
    except ImportError:  # without the seeding extra there is no random state to seed
        generator = None
    saved = generator.get_random_state() if generator is not None else None
    token = _CURRENT.set(ctx)
    if generator is not None:
        generator.reseed_random(ctx.seed)
    try:
        yield ctx
    finally:
        _CURRENT.reset(token)
        if generator is not None:
            generator.set_random_state(saved)


def check_seed(value: Any, source: str) -> int:
    """``value`` as a run seed (an int >= 0), or ``IK-SEED-INVALID-SEED``."""
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        seed = int(str(value).strip()) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        seed = -1
    if seed < 0:
        raise SeedError(ErrorCode.SEED_INVALID_SEED, value=value, source=source)
    return seed


@contextlib.contextmanager
def use(
    *,
    postgres: Any = None,
    kafka: Any = None,
    redis: Any = None,
    seed: int | None = None,
    name: str = "use",
) -> Iterator[SeedContext]:
    """Seed into these stores within the block::

        with seeding.use(postgres=connection, seed=7):
            rows = await CustomerFactory.create_batch(10)

    Inside an active context (a test), the stores are added to its own and the random
    state and sequences go on; with ``seed`` (or outside any context) the block gets a
    fresh deterministic context of its own.
    """
    stores = Stores(postgres=postgres, kafka=kafka, redis=redis)
    parent = _CURRENT.get()
    if parent is not None and seed is None:
        previous = parent.stores
        parent.stores = previous.merged(stores)
        try:
            yield parent
        finally:
            parent.stores = previous
        return
    run_seed = check_seed(seed if seed is not None else 0, "seeding.use(seed=...)")
    with activate(SeedContext(run_seed=run_seed, name=name, stores=stores)) as ctx:
        yield ctx
