"""redaction.py: the one function that masks credentials, on well-formed and malformed URLs."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integration_kit.errors import ConfigError, ErrorCode, ServiceError, raises_code
from integration_kit.redaction import MASK, redact, redact_url
from integration_kit.services.backends.external.urls import parse_url

pytestmark = pytest.mark.unit

#: Characters a careless user puts in a password, URL-reserved ones included.
_PASSWORD_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_USER = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=12)
_SCHEMES = st.sampled_from(["postgresql", "postgres", "redis", "rediss", "https"])
_HOSTS = st.sampled_from(["db.internal", "127.0.0.1", "[::1]", "cache-7"])


def _passwords() -> st.SearchStrategy[str]:
    # No password is found in the text around it by chance: it holds a marker nothing else does.
    # (A password of whitespace followed by "scheme://" would start a new URL: not generated.)
    return (
        st.text(_PASSWORD_CHARS, min_size=1, max_size=24)
        .map(lambda p: f"Q{p}Z")
        .filter(lambda p: not re.search(r"\s[A-Za-z][A-Za-z0-9+.\-]*://", p))
    )


@settings(max_examples=400)
@given(scheme=_SCHEMES, user=_USER, password=_passwords(), host=_HOSTS, raw=st.booleans())
def test_the_password_never_survives_redaction(
    scheme: str, user: str, password: str, host: str, raw: bool
) -> None:
    """For any user and password, raw (malformed when it holds / ? # @ :) or percent-encoded,
    inside a message or alone: the password is not in the redacted text."""
    secret = password if raw else quote(password, safe="")
    url = f"{scheme}://{user}:{secret}@{host}:5432/db?sslmode=disable"
    for text in (url, f"cannot reach {url} (twice: {url})", repr(url)):
        shown = redact(text)
        assert secret not in shown
        assert f"{user}:{MASK}@" in shown  # the user stays readable
    assert secret not in redact_url(url)


@given(password=_passwords())
def test_schemeless_and_parameter_credentials_are_masked(password: str) -> None:
    assert password not in redact_url(f"admin:{password}@db:5432")
    parameter = quote(password, safe="")
    assert parameter not in redact(f"postgresql://db/app?password={parameter}&sslmode=require")


def test_text_without_credentials_is_unchanged() -> None:
    for text in ("redis://127.0.0.1:6379/0", "postgresql://db/app", "host:9092,host2:9092", "a@b: no URL"):
        assert redact(text) == text


def test_every_error_message_is_redacted() -> None:
    """IntegrationKitError masks its context values, its hint and its log tail."""
    url = "postgresql://app:hunter2@db:5432/orders"
    error = ServiceError(
        ErrorCode.EXTERNAL_UNREACHABLE,
        service="postgres",
        url=url,
        timeout=1.0,
        cause=RuntimeError(f"connect to {url} failed"),
        log_tail=f"FATAL: connection from {url}",
    )
    assert "hunter2" not in str(error)
    assert "app:***@db" in str(error)
    assert error.context["url"] == url  # the context keeps the real value for the code that handles it
    hint = ConfigError(ErrorCode.CONFIG_INVALID_VALUE, key="k", value=url, source="s", expected="e")
    assert "hunter2" not in str(hint)


@pytest.mark.parametrize(
    ("kind", "url", "secret"),
    [
        ("postgres", "postgresql://app:Zq9/Xw7k@db:5432/orders", "Zq9/Xw7k"),  # '/' ends the authority early
        ("postgres", "postgresql://app:Zq9#Xw7k@db/orders", "Zq9#Xw7k"),  # '#' starts a fragment
        ("postgres", "postgresql://app:12/Xw7k@db/orders", "12/Xw7k"),  # reads as host "app", port 12
        ("postgres", "postgresql://app:Zq9Xw7k@db:notaport/orders", "Zq9Xw7k"),
        ("redis", "redis://:Zq9?Xw7k@cache:6379/0", "Zq9?Xw7k"),
        ("redis", "redis://:Zq9/Xw7k@cache/0", "Zq9/Xw7k"),
        ("redis", "redis://user:Zq9Xw7k@cache/zero", "Zq9Xw7k"),
        ("postgres", "app:Zq9Xw7k@db:5432/orders", "Zq9Xw7k"),  # no scheme at all
        ("kafka", "user:Zq9Xw7k@broker:9092", "Zq9Xw7k"),
    ],
)
def test_invalid_url_never_prints_the_password(kind: str, url: str, secret: str) -> None:
    with raises_code(ErrorCode.EXTERNAL_INVALID_URL) as caught:
        parse_url(kind, url)
    text = str(caught[0])
    for piece in ("Zq9", "Xw7k"):  # not the password, and not a piece of it either
        assert piece not in text, text
