"""``patch_aiokafka``: swap aiokafka's client classes for mocks bound to a cluster."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import aiokafka
import aiokafka.admin as aiokafka_admin

from integration_kit.errors import ErrorCode, MockError
from integration_kit.mocks.kafka.admin import MockKafkaAdmin
from integration_kit.mocks.kafka.cluster import MockKafkaCluster
from integration_kit.mocks.kafka.consumer import MockKafkaConsumer
from integration_kit.mocks.kafka.producer import MockKafkaProducer

__all__ = ["patch_aiokafka"]

# Where aiokafka itself exposes each class (the package, the subpackage, the module).
_HOMES = {
    "AIOKafkaProducer": ("aiokafka", "aiokafka.producer", "aiokafka.producer.producer"),
    "AIOKafkaConsumer": ("aiokafka", "aiokafka.consumer", "aiokafka.consumer.consumer"),
    "AIOKafkaAdminClient": ("aiokafka.admin", "aiokafka.admin.client"),
}


def _bind(base: type, name: str, cluster: MockKafkaCluster) -> type:
    return type(name, (base,), {"_bound_cluster": cluster, "__module__": base.__module__})


@contextmanager
def patch_aiokafka(cluster: MockKafkaCluster, *modules: ModuleType | str) -> Iterator[MockKafkaCluster]:
    """Within the block, aiokafka's producer, consumer and admin classes are mocks on ``cluster``.

    Patches ``aiokafka.AIOKafkaProducer`` / ``AIOKafkaConsumer`` /
    ``aiokafka.admin.AIOKafkaAdminClient`` (and their submodule homes), so code that
    looks them up at call time (``aiokafka.AIOKafkaProducer(...)``) gets mocks. Code
    that did ``from aiokafka import AIOKafkaProducer`` holds its own reference: pass
    its module (object or dotted name) and every such name in it is patched too.
    Everything is restored on exit. Yields the cluster::

        with patch_aiokafka(cluster, "myservice.events"):
            await myservice.events.publish_order(...)
    """
    real: dict[str, Any] = {}
    for class_name, homes in _HOMES.items():
        real[class_name] = getattr(importlib.import_module(homes[-1]), class_name)
    mocks = {
        "AIOKafkaProducer": _bind(MockKafkaProducer, "AIOKafkaProducer", cluster),
        "AIOKafkaConsumer": _bind(MockKafkaConsumer, "AIOKafkaConsumer", cluster),
        "AIOKafkaAdminClient": _bind(MockKafkaAdmin, "AIOKafkaAdminClient", cluster),
    }
    by_real = {id(real[name]): mocks[name] for name in real}
    targets: list[tuple[ModuleType, str, Any]] = []
    for class_name, homes in _HOMES.items():
        for home in homes:
            module = importlib.import_module(home)
            if getattr(module, class_name, None) is real[class_name]:
                targets.append((module, class_name, mocks[class_name]))
    for given in modules:
        module = importlib.import_module(given) if isinstance(given, str) else given
        found = False
        for attr, value in list(vars(module).items()):
            mock = by_real.get(id(value))
            if mock is not None:
                targets.append((module, attr, mock))
                found = True
            elif value is aiokafka or value is aiokafka_admin:
                found = True  # patched through the package itself
        if not found:
            name = getattr(module, "__name__", repr(module))
            raise MockError(ErrorCode.MOCK_KAFKA_NOTHING_PATCHED, module=name)
    saved = [(module, attr, getattr(module, attr)) for module, attr, _ in targets]
    try:
        for module, attr, mock in targets:
            setattr(module, attr, mock)
        yield cluster
    finally:
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)
