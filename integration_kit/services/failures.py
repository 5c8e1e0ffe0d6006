"""Start failures of a session: which another attempt may cure, and the error naming them."""

from __future__ import annotations

from integration_kit.errors import ErrorCode, IntegrationKitError, ServiceError
from integration_kit.services.base import ServiceSpec

#: Codes of start failures that another attempt may cure.
RETRYABLE = frozenset({ErrorCode.SVC_START_FAILED, ErrorCode.SVC_NOT_HEALTHY})


def is_retryable(exc: BaseException) -> bool:
    """Whether another start attempt may succeed: a flaky start, not a configuration error."""
    if not isinstance(exc, IntegrationKitError):
        return False
    if exc.code is ErrorCode.SVC_PORT_IN_USE:
        return bool(exc.context.get("chosen_by_kit"))  # lost a race for a port we picked
    return exc.code in RETRYABLE


def start_failed(
    spec: ServiceSpec, cause: BaseException, *, attempts: int, others: list[str]
) -> ServiceError:
    """``IK-SVC-START-FAILED`` for ``spec``, carrying ``cause``'s code, hint and log tail."""
    if isinstance(cause, IntegrationKitError):
        text = f"[{cause.code.value}] {cause.message}"
        hint = cause.hint
        log_tail = cause.log_tail
        cause_code = cause.code.value
    else:
        text = f"{type(cause).__name__}: {cause}"
        hint = None
        log_tail = None
        cause_code = None
    if attempts > 1:
        text += f" (after {attempts} attempts)"
    if others:
        text += f"; also failed: {', '.join(others)}"
    return ServiceError(
        ErrorCode.SVC_START_FAILED,
        hint=hint,
        log_tail=log_tail,
        service=spec.key,
        cause=text,
        cause_code=cause_code,
        attempts=attempts,
    )
