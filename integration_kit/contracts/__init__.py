"""Contract testing: message and HTTP contracts, consumer-driven verification, versioning.

Plain functions and objects, usable in any test without fixtures::

    from integration_kit.contracts import load_contracts, verify_message, check_compatibility

    registry = load_contracts("contracts/")
    verify_message(registry.message("order-created"), {"id": 7, "items": []})

See docs/contracts.md.
"""

from integration_kit.dependencies import require

require("jsonschema", feature="contract testing (integration_kit.contracts)")

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
