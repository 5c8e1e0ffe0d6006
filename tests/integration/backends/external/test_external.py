"""The external backend against the development services, and its coded errors."""

from __future__ import annotations

import os
import time

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.external import ExternalBackend
from integration_kit.services.base import KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.ports import free_port

pytestmark = pytest.mark.integration

ENV = {
    "postgres": "INTEGRATION_KIT_POSTGRES_URL",
    "redis": "INTEGRATION_KIT_REDIS_URL",
    "kafka": "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS",
}
SPECS: list[ServiceSpec] = [PostgresService(), RedisService(), KafkaService()]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_external_service_is_used_and_never_stopped(spec: ServiceSpec) -> None:
    if not os.environ.get(ENV[spec.kind]):
        pytest.skip(f"{ENV[spec.kind]} is not set: no external {spec.kind} to test against")
    backend = ExternalBackend(load_settings())
    service = backend.start(spec, timeout=10)
    assert service.endpoint.port > 0
    service.stop()
    # Still there: the kit never stops what it did not start.
    again = backend.start(spec, timeout=10)
    assert again.endpoint == service.endpoint


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_unreachable_url_fails_within_the_deadline_with_the_drivers_cause(spec: ServiceSpec) -> None:
    port = free_port()  # nothing listens there
    url = {
        "postgres": f"postgresql://test:secret@127.0.0.1:{port}/test",
        "redis": f"redis://127.0.0.1:{port}/0",
        "kafka": f"127.0.0.1:{port}",
    }[spec.kind]
    setting = {"postgres": "postgres_url", "redis": "redis_url", "kafka": "kafka_bootstrap_servers"}
    backend = ExternalBackend(load_settings(**{setting[spec.kind]: url}))
    started = time.monotonic()
    with raises_code(ErrorCode.EXTERNAL_UNREACHABLE) as caught:
        backend.start(spec, timeout=1.0)
    elapsed = time.monotonic() - started
    error = caught[0]
    assert elapsed < 1.0 + 3.0, f"the deadline did not hold: {elapsed:.2f}s"
    assert error.__cause__ is not None, "the driver's exception is chained"
    assert str(port) in error.context["cause"] or "connect" in error.context["cause"].lower()
    assert "secret" not in str(error), "passwords are redacted"
