"""errors.py: codes are unique, stable in form, documented, and messages render."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integration_kit.errors import (
    ConfigError,
    ErrorCode,
    IntegrationKitError,
    KafkaError,
    raises_code,
)

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_codes_are_unique_and_well_formed() -> None:
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    for value in values:
        assert re.fullmatch(r"IK(-[A-Z0-9]+)+", value), value


def test_every_code_is_documented() -> None:
    documented = set(re.findall(r"`(IK-[A-Z0-9-]+)`", DOCS.read_text()))
    missing = {code.value for code in ErrorCode} - documented
    assert not missing, f"document these in docs/errors.md: {sorted(missing)}"


def test_message_carries_code_context_and_hint() -> None:
    error = KafkaError(ErrorCode.KAFKA_TOPIC_NOT_READY, timeout=1.5, pending="orders[0]")
    assert error.code is ErrorCode.KAFKA_TOPIC_NOT_READY
    assert error.context == {"timeout": 1.5, "pending": "orders[0]"}
    assert str(error).startswith("[IK-KAFKA-TOPIC-NOT-READY] Kafka topics not ready within 1.50s")
    assert "hint:" in str(error)
    assert isinstance(error, RuntimeError)


def test_missing_template_fields_do_not_hide_the_error() -> None:
    error = ConfigError(ErrorCode.CONFIG_UNKNOWN_KEY, key="colour")
    assert "'colour'" in str(error)
    assert "{source}" in str(error)


def test_log_tail_is_rendered() -> None:
    error = IntegrationKitError(ErrorCode.SVC_START_FAILED, service="pg", cause="boom", log_tail="a\nb")
    assert "log tail:\n    a\n    b" in str(error)


def test_raises_code_rejects_other_codes_and_no_error() -> None:
    with (
        pytest.raises(AssertionError, match="expected IK-WAIT-TIMEOUT, got IK-CONFIG"),
        raises_code(ErrorCode.WAIT_TIMEOUT),
    ):
        raise ConfigError(ErrorCode.CONFIG_UNKNOWN_KEY, key="x", source="s", known="")
    with pytest.raises(AssertionError, match="nothing was raised"), raises_code(ErrorCode.WAIT_TIMEOUT):
        pass


def test_every_raise_uses_the_class_its_code_is_bound_to() -> None:
    import ast

    from integration_kit import errors

    package = Path(errors.__file__).parent
    classes = {name for name, value in vars(errors).items() if isinstance(value, type)}
    wrong = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if not (call and node.func.id in classes):
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Attribute) and ast.unparse(first.value) == "ErrorCode"):
                continue
            code = getattr(errors.ErrorCode, first.attr)
            if not issubclass(getattr(errors, node.func.id), errors.error_class(code)):
                wrong.append(f"{path.relative_to(package)}:{node.lineno}: {node.func.id}({code.value})")
    assert not wrong, wrong


def test_every_area_has_a_class_and_every_code_an_area() -> None:
    from integration_kit.errors import CLASS_FOR_AREA, error_class

    for code in ErrorCode:
        cls = error_class(code)
        assert issubclass(cls, IntegrationKitError), code
    assert {code.value.split("-")[1] for code in ErrorCode} == set(CLASS_FOR_AREA)


def test_has_code_walks_the_cause_chain() -> None:
    from integration_kit.errors import ServiceError, has_code

    inner = ServiceError(ErrorCode.SVC_NO_BACKEND, service="redis", tried="nothing")
    try:
        try:
            raise inner
        except ServiceError as exc:
            raise ServiceError(ErrorCode.SVC_START_FAILED, service="redis", cause="x") from exc
    except ServiceError as outer:
        assert has_code(outer, ErrorCode.SVC_START_FAILED)
        assert has_code(outer, ErrorCode.SVC_NO_BACKEND)
        assert not has_code(outer, ErrorCode.SVC_NOT_HEALTHY)
    assert not has_code(ValueError("plain"), ErrorCode.SVC_NO_BACKEND)
    assert not has_code(None, ErrorCode.SVC_NO_BACKEND)
