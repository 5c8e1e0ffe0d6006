"""Validation of built records before they are written: JSON Schema, pydantic, callables.

``Meta.validate`` of a factory is one of:

- a JSON Schema (a ``dict``), checked with ``jsonschema`` (the draft the schema names);
- a pydantic model class (anything with ``model_validate``), checked, never used to
  change the data;
- a callable ``check(record)``: it returns ``None``/``True`` when the record is valid,
  ``False`` when it is not, or raises :class:`Invalid` naming the field and the rule
  (a ``ValueError``/``AssertionError`` counts as a failed rule of the whole record).

A failed rule raises ``IK-SEED-INVALID`` (:class:`~integration_kit.errors.SeedValidationError`)
naming the factory, the field and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from integration_kit.errors import ErrorCode, SeedValidationError, UsageError

WHOLE_RECORD = "(record)"


class Invalid(Exception):
    """Raised by a callable validator: ``raise Invalid("price", "must be > 0")``."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


Check = Callable[[Mapping[str, Any]], None]


def compile_validator(spec: Any, *, owner: str) -> Check | None:
    """A check function for ``Meta.validate`` (``IK-USAGE-INVALID-DECLARATION`` if unusable)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return _json_schema(dict(spec), owner)
    if isinstance(spec, type) and hasattr(spec, "model_validate"):
        return _pydantic(spec, owner)
    if callable(spec):
        return _callable(spec, owner)
    raise UsageError(
        ErrorCode.USAGE_INVALID_DECLARATION,
        attribute="Meta.validate",
        value=spec,
        owner=owner,
        expected="a JSON Schema (dict), a pydantic model class or a callable(record)",
    )


def invalid(owner: str, field: str, rule: str, source: str) -> SeedValidationError:
    return SeedValidationError(ErrorCode.SEED_INVALID, factory=owner, field=field, rule=rule, source=source)


def _json_schema(schema: dict[str, Any], owner: str) -> Check:
    from integration_kit.dependencies import require

    require("jsonschema", feature="JSON Schema validation of factories (Meta.validate)")
    import jsonschema

    try:
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise UsageError(
            ErrorCode.USAGE_INVALID_DECLARATION,
            attribute="Meta.validate",
            value=schema,
            owner=owner,
            expected=f"a valid JSON Schema ({exc.message})",
        ) from exc
    validator = cls(schema)

    def check(record: Mapping[str, Any]) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(dict(record)))
        if error is None:
            return
        path = list(error.absolute_path)
        field = ".".join(str(p) for p in path) if path else _missing_field(error) or WHOLE_RECORD
        rule = f"{error.validator}={error.validator_value!r} ({error.message})"
        raise invalid(owner, field, rule, "its JSON Schema")

    return check


def _missing_field(error: Any) -> str | None:
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [name for name in error.validator_value if name not in error.instance]
        return missing[0] if missing else None
    return None


def _pydantic(model: type, owner: str) -> Check:
    def check(record: Mapping[str, Any]) -> None:
        try:
            model.model_validate(dict(record))  # type: ignore[attr-defined]
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            errors = getattr(exc, "errors", None)
            details = errors() if callable(errors) else []
            if details:
                first = details[0]
                field = ".".join(str(p) for p in first.get("loc", ())) or WHOLE_RECORD
                rule = f"{first.get('type')} ({first.get('msg')})"
            else:
                field, rule = WHOLE_RECORD, str(exc)
            raise invalid(owner, field, rule, f"pydantic model {model.__name__}") from exc

    return check


def _callable(fn: Callable[..., Any], owner: str) -> Check:
    name = getattr(fn, "__qualname__", repr(fn))

    def check(record: Mapping[str, Any]) -> None:
        try:
            outcome = fn(record)
        except Invalid as exc:
            raise invalid(owner, exc.field, exc.rule, f"validator {name}") from exc
        except (ValueError, AssertionError) as exc:
            raise invalid(owner, WHOLE_RECORD, str(exc) or type(exc).__name__, f"validator {name}") from exc
        if outcome is False:
            raise invalid(owner, WHOLE_RECORD, f"{name} returned False", f"validator {name}")

    return check
