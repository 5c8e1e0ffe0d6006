"""The ``docker`` backend (see :mod:`.backend`): one module per service, plus containers."""

from integration_kit.services.backends.docker.backend import DockerBackend
from integration_kit.services.backends.docker.container import DockerRunning, reap_containers
from integration_kit.services.backends.docker.images import split_image
from integration_kit.services.backends.docker.kafka import KafkaClassCache, kafka_env_name, kafka_environment

__all__ = [
    "DockerBackend",
    "DockerRunning",
    "KafkaClassCache",
    "kafka_env_name",
    "kafka_environment",
    "reap_containers",
    "split_image",
]
