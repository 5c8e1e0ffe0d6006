"""Contract testing: message and HTTP contracts, consumer-driven verification, versioning.

Plain functions and objects, usable in any test without fixtures::

    from integration_kit.contracts import load_contracts, verify_message, check_compatibility

    registry = load_contracts("contracts/")
    verify_message(registry.message("order-created"), {"id": 7, "items": []})

See docs/contracts.md. Names are imported on first use: the pytest plugin
(``integration_kit.contracts.plugin``) loads in every run and must not pull in jsonschema;
:mod:`~integration_kit.contracts.schema` checks jsonschema's version (``IK-DEP-*``) when it
is first imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports

_EXPORTS = {
    "Check": "integration_kit.contracts.suite",
    "CompatibilityReport": "integration_kit.contracts.compat",
    "ConsumerExpectation": "integration_kit.contracts.consumers",
    "ContractDefinitionError": "integration_kit.errors",
    "ContractError": "integration_kit.errors",
    "ContractRegistry": "integration_kit.contracts.registry",
    "Example": "integration_kit.contracts.message",
    "FieldExpectation": "integration_kit.contracts.consumers",
    "HttpContract": "integration_kit.contracts.http",
    "HttpFailure": "integration_kit.contracts.http",
    "HttpInteraction": "integration_kit.contracts.http",
    "HttpReport": "integration_kit.contracts.http",
    "MessageContract": "integration_kit.contracts.message",
    "Problem": "integration_kit.contracts.compat",
    "ProviderFailure": "integration_kit.contracts.consumers",
    "ProviderReport": "integration_kit.contracts.consumers",
    "RegistryReport": "integration_kit.contracts.suite",
    "Version": "integration_kit.contracts.schema",
    "Violation": "integration_kit.contracts.schema",
    "assert_versions_compatible": "integration_kit.contracts.compat",
    "averify_http": "integration_kit.contracts.http",
    "check_compatibility": "integration_kit.contracts.compat",
    "check_versions": "integration_kit.contracts.compat",
    "definition_from_dict": "integration_kit.contracts.registry",
    "json_path": "integration_kit.contracts.schema",
    "load_contracts": "integration_kit.contracts.registry",
    "load_file": "integration_kit.contracts.registry",
    "verify_http": "integration_kit.contracts.http",
    "verify_message": "integration_kit.contracts.message",
    "verify_provider": "integration_kit.contracts.consumers",
    "verify_record": "integration_kit.contracts.message",
    "verify_registry": "integration_kit.contracts.suite",
    "violations": "integration_kit.contracts.schema",
}

if TYPE_CHECKING:
    from integration_kit.contracts.compat import (
        CompatibilityReport,
        Problem,
        assert_versions_compatible,
        check_compatibility,
        check_versions,
    )
    from integration_kit.contracts.consumers import (
        ConsumerExpectation,
        FieldExpectation,
        ProviderFailure,
        ProviderReport,
        verify_provider,
    )
    from integration_kit.contracts.http import (
        HttpContract,
        HttpFailure,
        HttpInteraction,
        HttpReport,
        averify_http,
        verify_http,
    )
    from integration_kit.contracts.message import Example, MessageContract, verify_message, verify_record
    from integration_kit.contracts.registry import (
        ContractRegistry,
        definition_from_dict,
        load_contracts,
        load_file,
    )
    from integration_kit.contracts.schema import Version, Violation, json_path, violations
    from integration_kit.contracts.suite import Check, RegistryReport, verify_registry
    from integration_kit.errors import ContractDefinitionError, ContractError

__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "Check",
    "CompatibilityReport",
    "ConsumerExpectation",
    "ContractDefinitionError",
    "ContractError",
    "ContractRegistry",
    "Example",
    "FieldExpectation",
    "HttpContract",
    "HttpFailure",
    "HttpInteraction",
    "HttpReport",
    "MessageContract",
    "Problem",
    "ProviderFailure",
    "ProviderReport",
    "RegistryReport",
    "Version",
    "Violation",
    "assert_versions_compatible",
    "averify_http",
    "check_compatibility",
    "check_versions",
    "definition_from_dict",
    "json_path",
    "load_contracts",
    "load_file",
    "verify_http",
    "verify_message",
    "verify_provider",
    "verify_record",
    "verify_registry",
    "violations",
]
