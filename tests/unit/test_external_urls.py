"""URL parsing of the external backend: valid forms and IK-EXTERNAL-INVALID-URL."""

from __future__ import annotations

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.external import parse_url

pytestmark = pytest.mark.unit


def test_postgres_url() -> None:
    endpoint = parse_url("postgres", "postgresql://u:p%40ss@db.example:6543/app")
    assert (endpoint.host, endpoint.port, endpoint.user, endpoint.password, endpoint.database) == (
        "db.example",
        6543,
        "u",
        "p@ss",
        "app",
    )
    assert parse_url("postgres", "postgres://localhost").port == 5432


def test_redis_url() -> None:
    endpoint = parse_url("redis", "redis://:pw@cache:6380/3")
    assert (endpoint.host, endpoint.port, endpoint.password, endpoint.database) == ("cache", 6380, "pw", "3")
    assert parse_url("redis", "rediss://cache").extra["ssl"] is True


def test_kafka_servers() -> None:
    endpoint = parse_url("kafka", "PLAINTEXT://k1:9092, k2:9093")
    assert (endpoint.host, endpoint.port) == ("k1", 9092)
    assert endpoint.bootstrap_servers == "k1:9092,k2:9093"


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("postgres", "mysql://db:3306/app"),
        ("postgres", "postgresql://db:notaport/app"),
        ("postgres", "postgresql:///app"),
        ("postgres", "postgresql://db:70000/app"),
        ("redis", "http://cache:6379"),
        ("redis", "redis://cache:6379/zero"),
        ("kafka", "broker"),
        ("kafka", "broker:port"),
        ("kafka", ""),
        ("kafka", ":9092"),
    ],
)
def test_invalid_url_is_a_coded_error(kind: str, url: str) -> None:
    with raises_code(ErrorCode.EXTERNAL_INVALID_URL) as caught:
        parse_url(kind, url)
    assert caught[0].context["service"] == kind
    assert "://" in caught[0].hint or ":" in caught[0].hint
