"""Error codes and the exception tree of integration-kit.

Every error the kit raises is an :class:`IntegrationKitError` carrying a stable
:class:`ErrorCode`, a message built from the code's template, a ``context`` dict
and a ``hint`` saying how to fix it. Tests assert codes, never message strings::

    IntegrationKitError
    ├── ConfigError (ValueError)           IK-CONFIG-*
    ├── ContractError (AssertionError)     IK-CONTRACT-* (violations, incompatibility)
    ├── ContractDefinitionError (ValueError) IK-CONTRACT-* (bad or missing definitions)
    ├── ServiceError (RuntimeError)        IK-SVC-*, IK-DOCKER-*, IK-LOCAL-*, IK-EXTERNAL-*
    ├── HealthCheckError (TimeoutError)    IK-HEALTH-*
    ├── WaitTimeoutError (TimeoutError)    IK-WAIT-TIMEOUT
    ├── KafkaError (RuntimeError)          IK-KAFKA-*
    │   └── KafkaArgumentError (+ UsageError) IK-KAFKA-INVALID-ARGUMENT
    ├── PostgresError (RuntimeError)       IK-PG-*
    ├── RedisError (RuntimeError)          IK-REDIS-*
    ├── MockError (RuntimeError)           IK-MOCK-*
    ├── MetricsError (RuntimeError)        IK-METRICS-*
    ├── SuiteError (RuntimeError)          IK-SUITE-*
    ├── DependencyError (ImportError)      IK-DEP-*
    ├── SeedError (RuntimeError)           IK-SEED-*
    │   └── SeedValidationError (ValueError) IK-SEED-INVALID
    └── UsageError (TypeError)             IK-USAGE-*
"""

from __future__ import annotations

import enum
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from integration_kit.redaction import redact


class ErrorCode(enum.Enum):
    """Stable error codes. The value is the public code; never change one."""

    def __new__(cls, code: str, template: str, hint: str) -> ErrorCode:
        member = object.__new__(cls)
        member._value_ = code
        member.template = template  # type: ignore[attr-defined]
        member.hint = hint  # type: ignore[attr-defined]
        return member

    template: str
    hint: str

    # --- configuration ---
    CONFIG_UNKNOWN_KEY = (
        "IK-CONFIG-UNKNOWN-KEY",
        "Unknown setting {key!r} in {source}",
        "{suggestion}Known settings: {known}. Check the spelling.",
    )
    CONFIG_UNKNOWN_ENV = (
        "IK-CONFIG-UNKNOWN-ENV",
        "Unknown environment variable {name}: no setting of the kit is called that",
        "{suggestion}Unset it or fix the spelling; the kit's variables: {known}.",
    )
    CONFIG_INVALID_VALUE = (
        "IK-CONFIG-INVALID-VALUE",
        "Invalid value {value!r} for setting {key!r} from {source}: expected {expected}",
        "Set {key} to {expected}.",
    )
    CONFIG_UNUSABLE_PATH = (
        "IK-CONFIG-UNUSABLE-PATH",
        "Setting {key!r} names {path}, which the kit cannot use: {problem}",
        "Point {key} ({env}) at a directory the kit may create and write to.",
    )
    # --- contracts ---
    CONTRACT_VIOLATION = (
        "IK-CONTRACT-VIOLATION",
        "{subject} does not satisfy contract {contract}: {violations}",
        "Fix the producer or the contract; each violation names its JSON path ($ is the root).",
    )
    CONTRACT_UNDECODABLE = (
        "IK-CONTRACT-UNDECODABLE",
        "The {part} of {subject} is not JSON as contract {contract} requires: {cause}",
        "The producer must send UTF-8 JSON; check its serializer.",
    )
    CONTRACT_INVALID = (
        "IK-CONTRACT-INVALID",
        "Invalid contract definition {source}: {cause}",
        "Fix the definition; docs/contracts.md describes the format.",
    )
    CONTRACT_NOT_FOUND = (
        "IK-CONTRACT-NOT-FOUND",
        "No contract {name!r} (version {version}) in the registry; known: {known}",
        "Check the name and version, or load the directory that defines the contract.",
    )
    CONTRACT_DUPLICATE = (
        "IK-CONTRACT-DUPLICATE",
        "Contract {name!r} version {version} is defined twice: {sources}",
        "Publish a changed contract under a new version; never redefine one.",
    )
    CONTRACT_UNKNOWN_MODE = (
        "IK-CONTRACT-UNKNOWN-MODE",
        "Unknown compatibility mode {mode!r}",
        "Use one of: {known}.",
    )
    CONTRACT_INCOMPATIBLE = (
        "IK-CONTRACT-INCOMPATIBLE",
        "{subject} is not {mode} compatible: {problems}",
        "Revert the breaking change (or give the new required field a default), "
        "or publish it under a new major version that consumers adopt deliberately.",
    )
    CONTRACT_PROVIDER_FAILED = (
        "IK-CONTRACT-PROVIDER-FAILED",
        "Provider {provider} breaks {count} consumer expectation(s): {failures}",
        "Each failure names the consumer, the field and what it reads; fix the provider "
        "or agree a new contract version with that consumer.",
    )
    CONTRACT_HTTP_MISMATCH = (
        "IK-CONTRACT-HTTP-MISMATCH",
        "HTTP contract {contract} failed against {base_url}: {failures}",
        "Fix the service or the contract; each failure names the interaction and the JSON path.",
    )
    CONTRACT_HTTP_UNREACHABLE = (
        "IK-CONTRACT-HTTP-UNREACHABLE",
        "HTTP service at {url} not reachable: {cause}",
        "Check that the service under test runs (its ProcessService health check) and the base URL.",
    )
    # --- waiting and health ---
    WAIT_TIMEOUT = (
        "IK-WAIT-TIMEOUT",
        "Condition {what} not met within {timeout:.2f}s ({attempts} attempts); last outcome: {last}",
        "Increase the timeout or check why the condition never holds.",
    )
    HEALTH_TIMEOUT = (
        "IK-HEALTH-TIMEOUT",
        "Health check {check} did not pass within {timeout:.2f}s; last error: {last}",
        "Check that the service is running and listening at the address in the check.",
    )
    # --- services (generic) ---
    SVC_START_FAILED = (
        "IK-SVC-START-FAILED",
        "Service {service!r} failed to start: {cause}",
        "Read the log tail below; fix the service configuration or raise the start timeout.",
    )
    SVC_NOT_HEALTHY = (
        "IK-SVC-NOT-HEALTHY",
        "Service {service!r} did not become healthy within {timeout:.2f}s: {cause}",
        "Read the log tail; raise INTEGRATION_KIT_START_TIMEOUT if the machine is slow.",
    )
    SVC_PORT_IN_USE = (
        "IK-SVC-PORT-IN-USE",
        "Port {port} on {host} is already in use, needed by service {service!r}",
        "Stop whatever listens on that port, or let the kit choose a free port (port=None).",
    )
    SVC_PROCESS_EXITED = (
        "IK-SVC-PROCESS-EXITED",
        "Process of service {service!r} exited with code {returncode} before it was healthy",
        "Read the log tail; run the command by hand to see why it exits.",
    )
    SVC_COMMAND_NOT_FOUND = (
        "IK-SVC-COMMAND-NOT-FOUND",
        "Command {command!r} of service {service!r} was not found",
        "Install it or give its absolute path in the service's command.",
    )
    SVC_NO_BACKEND = (
        "IK-SVC-NO-BACKEND",
        "No backend can run service {service!r}; tried: {tried}",
        "Set a URL for the external backend, start a Docker engine, or install the binaries "
        "(see docs/services.md).",
    )
    SVC_UNKNOWN_BACKEND = (
        "IK-SVC-UNKNOWN-BACKEND",
        "Unknown backend {backend!r}",
        "Use one of: {known}.",
    )
    SVC_UNKNOWN_KIND = (
        "IK-SVC-UNKNOWN-KIND",
        "The {backend} backend cannot run {kind!r} services (service {service!r})",
        "It runs: {known}. Use another backend for this service.",
    )
    SVC_INVALID_RUN_ID = (
        "IK-SVC-INVALID-RUN-ID",
        "Run id {run_id!r} is not usable for run coordination: {cause}",
        "Run ids are letters, digits, '_', '-' or '.' (pytest-xdist's testrunuid is).",
    )
    SVC_VERSION_UNAVAILABLE = (
        "IK-SVC-VERSION-UNAVAILABLE",
        "The {backend} backend has no {kind} {version!r} for service {service!r}; available: {available}",
        "Ask for one of the available versions, or provide {version!r}: {provide}.",
    )
    SVC_VERSION_MISMATCH = (
        "IK-SVC-VERSION-MISMATCH",
        "Service {service!r} at {url} runs {kind} {actual}, but version {version!r} was asked for",
        "Point the URL at a {kind} {version} server, or ask for version={actual_major!r}.",
    )
    SVC_DIED = (
        "IK-SVC-DIED",
        "Service {service!r} ({backend}) died during the run: {how} (exit code {exit_code})",
        "Read the log tail: the server crashed or was killed from outside (OOM killer, "
        "docker kill/stop, kill). Every later test that needs {service!r} fails with this error.",
    )
    SVC_STALE_RUN_STATE = (
        "IK-SVC-STALE-RUN-STATE",
        "Leftover run state {path} of a dead pytest-xdist run found",
        "The kit stops its services and removes it at start; remove {path} by hand if this persists.",
    )
    SVC_WARM_DEAD = (
        "IK-SVC-WARM-DEAD",
        "Warm service {service!r} at {address} does not answer: {cause}",
        "The kit starts a new one (logged); `integration-kit services status` shows the warm set.",
    )
    # --- docker backend ---
    DOCKER_UNAVAILABLE = (
        "IK-DOCKER-UNAVAILABLE",
        "Docker engine not reachable at {url}: {cause}",
        "Start dockerd (scripts/provision.sh does), or set DOCKER_HOST, or use another backend.",
    )
    DOCKER_IMAGE_MISSING = (
        "IK-DOCKER-IMAGE-MISSING",
        "Image {image!r} is not present locally and pulling is not allowed: {cause}",
        "Build it (scripts/provision.sh images) or point {env_var} at a local image.",
    )
    # --- local backend ---
    LOCAL_BINARY_NOT_FOUND = (
        "IK-LOCAL-BINARY-NOT-FOUND",
        "Binary {binary!r} for service {service!r} not found; looked in: {searched}",
        "Install it ({install}) or set {env_var}.",
    )
    LOCAL_STALE_PIDFILE = (
        "IK-LOCAL-STALE-PIDFILE",
        "Stale pid file {path} of a dead run (pid {pid}) found",
        "The kit removes it at start; remove {path} by hand if this persists.",
    )
    # --- external backend ---
    EXTERNAL_INVALID_URL = (
        "IK-EXTERNAL-INVALID-URL",
        "Invalid URL {url!r} for {service!r}: {cause}",
        "Use the form {example}.",
    )
    EXTERNAL_UNREACHABLE = (
        "IK-EXTERNAL-UNREACHABLE",
        "External service {service!r} at {url} not reachable within {timeout:.2f}s: {cause}",
        "Check that the service runs and the URL is right.",
    )
    EXTERNAL_AUTH_FAILED = (
        "IK-EXTERNAL-AUTH-FAILED",
        "External {service!r} at {url} refused the login: {cause}",
        "Fix the user name and password in {setting} (percent-encode reserved characters); "
        "a configuration error is not retried.",
    )
    EXTERNAL_UNKNOWN_DATABASE = (
        "IK-EXTERNAL-UNKNOWN-DATABASE",
        "External {service!r} at {url} has no database {database!r}: {cause}",
        "Name a database that exists in {setting} (PostgreSQL: create it; Redis: an index below the "
        "server's `databases`); a configuration error is not retried.",
    )
    EXTERNAL_WRONG_PROTOCOL = (
        "IK-EXTERNAL-WRONG-PROTOCOL",
        "{address} (from {setting}) is not {expected}: it answers like {actual}",
        "Point {setting} at the port of {expected}; a configuration error is not retried.",
    )
    EXTERNAL_SASL_REQUIRED = (
        "IK-EXTERNAL-SASL-REQUIRED",
        "{address} (from {setting}) is a Kafka listener that requires SASL authentication "
        "(mechanisms: {mechanisms}); the kit connects to Kafka over PLAINTEXT only",
        "Point {setting} at a PLAINTEXT listener of the broker (one for tests); a configuration "
        "error is not retried.",
    )
    # --- kafka ---
    KAFKA_TOPIC_NOT_READY = (
        "IK-KAFKA-TOPIC-NOT-READY",
        "Kafka topics not ready within {timeout:.2f}s: {pending}",
        "Check the broker log; raise the timeout if the broker is slow to elect leaders.",
    )
    KAFKA_TOPIC_FOREIGN = (
        "IK-KAFKA-TOPIC-FOREIGN",
        "{owner} declares topic(s) {topics} that already exist on {bootstrap_servers} and were not "
        "created by the kit in this run; nothing was deleted",
        "The kit deletes and recreates only topics it created. Rename the declared topic, use "
        'kafka_topic_naming = "unique" (a fresh name per class), give the kit\'s topics a prefix of '
        'their own (INTEGRATION_KIT_KAFKA_TOPIC_PREFIX, e.g. "ik.{run}.{worker}."), or point '
        "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS at a broker set aside for tests. Leftovers of a killed "
        "run of this host are removed by the next run (from the kit's topic registry); others are not.",
    )
    KAFKA_ASSIGNMENT_TIMEOUT = (
        "IK-KAFKA-ASSIGNMENT-TIMEOUT",
        "Consumer was not assigned {expected} within {timeout:.2f}s (assigned: {assigned})",
        "Check that the topics exist and no other member of group {group!r} holds them.",
    )
    KAFKA_UNREACHABLE = (
        "IK-KAFKA-UNREACHABLE",
        "Kafka broker at {bootstrap_servers} not reachable within {timeout:.2f}s: {cause}",
        "Check that the broker runs and advertises an address this machine can reach.",
    )
    KAFKA_NO_MESSAGE = (
        "IK-KAFKA-NO-MESSAGE",
        "No message on {topic!r} matched within {within:.2f}s ({seen} seen)",
        "Check that the producer sends to this topic and the predicate is right.",
    )
    KAFKA_UNEXPECTED_MESSAGE = (
        "IK-KAFKA-UNEXPECTED-MESSAGE",
        "A message on {topic!r} matched although none was expected: {message}",
        "The code under test produced a message the test forbids.",
    )
    KAFKA_ADMIN_FAILED = (
        "IK-KAFKA-ADMIN-FAILED",
        "Kafka could not {operation} topic {topic!r}: {cause}",
        "{fix}",
    )
    KAFKA_INVALID_ARGUMENT = (
        "IK-KAFKA-INVALID-ARGUMENT",
        "Invalid {argument} {value!r}: expected {expected}",
        "Pass {expected}.",
    )
    CONFIG_REGISTRY_UNUSABLE = (
        "IK-CONFIG-REGISTRY-UNUSABLE",
        "The kit's local ownership registry {path} cannot be used: {cause}",
        "The kit records there what it creates on shared servers (Kafka topics, claimed Redis "
        "databases), so that the next run can remove what a killed run left; make the directory "
        "writable or point INTEGRATION_KIT_CACHE_DIR at one that is.",
    )
    # --- postgres ---
    PG_MIGRATIONS_MISSING = (
        "IK-PG-MIGRATIONS-MISSING",
        "Migrations directory {path} does not exist",
        "Create it or fix postgres_migrations (relative paths are looked up next to the test module, "
        "then in the current directory).",
    )
    PG_MIGRATION_FAILED = (
        "IK-PG-MIGRATION-FAILED",
        "Migration {file} failed at statement: {statement}: {cause}",
        "Fix the migration; it ran inside a transaction and was rolled back.",
    )
    PG_UNKNOWN_SNAPSHOT = (
        "IK-PG-UNKNOWN-SNAPSHOT",
        "No snapshot named {name!r}; known: {known}",
        "Call snapshot({name!r}) before restore({name!r}).",
    )
    PG_INSUFFICIENT_PRIVILEGE = (
        "IK-PG-INSUFFICIENT-PRIVILEGE",
        "Role {role!r} lacks {privilege}: {cause}",
        "Grant it: ALTER ROLE {role} {privilege}; or use a superuser DSN.",
    )
    PG_UNKNOWN_STRATEGY = (
        "IK-PG-UNKNOWN-STRATEGY",
        "Unknown isolation strategy {strategy!r}",
        "Use one of: {known}.",
    )
    PG_NOT_UNCHANGED = (
        "IK-PG-STATE-CHANGED",
        "Database differs from snapshot {snapshot!r}: {diff}",
        "The test changed data it should not have.",
    )
    PG_MIGRATION_NOT_IDEMPOTENT = (
        "IK-PG-MIGRATION-NOT-IDEMPOTENT",
        "Data migration {migration!r} changed the data when applied a second time: {diff}",
        "Make the migration idempotent or declare it idempotent=False.",
    )
    PG_SNAPSHOT_UNSUPPORTED = (
        "IK-PG-SNAPSHOT-UNSUPPORTED",
        "Database {database!r} cannot be snapshotted exactly: {what} ({cause})",
        "Keep this out of the migrations run under tests, or tell the kit's maintainers what you need.",
    )
    # --- redis ---
    REDIS_TTL_MISMATCH = (
        "IK-REDIS-TTL-MISMATCH",
        "TTL of {key!r} is {ttl}, expected between {lo} and {hi}",
        "Check the expiry the code under test sets.",
    )
    REDIS_KEY_EXISTS = (
        "IK-REDIS-KEY-EXISTS",
        "Key {key!r} exists although it should not",
        "The code under test wrote or failed to delete the key.",
    )
    REDIS_INVALID_ARGUMENT = (
        "IK-REDIS-INVALID-ARGUMENT",
        "Invalid {argument} = {value!r}: expected {expected}",
        "Pass {expected}.",
    )
    REDIS_RESTORE_FAILED = (
        "IK-REDIS-RESTORE-FAILED",
        "Restoring the Redis snapshot failed for {failed} of {total} commands: {cause}",
        "Snapshots only restore on the server (and version) they were taken from; re-seed instead.",
    )
    REDIS_DB_UNAVAILABLE = (
        "IK-REDIS-DB-UNAVAILABLE",
        "Redis at {url} has no database {db}: {cause}",
        "Start Redis with more databases (--databases 16), list only databases the server has in "
        "INTEGRATION_KIT_REDIS_DATABASES (redis_databases), or isolate by key prefix (isolation='prefix').",
    )
    REDIS_DB_FOREIGN = (
        "IK-REDIS-DB-FOREIGN",
        "The kit does not own {scope}: it holds {found}; nothing was deleted",
        "The kit empties only what it owns (empty when first claimed, or marked with its owner key). "
        "Declare databases the kit may use in INTEGRATION_KIT_REDIS_DATABASES (redis_databases, e.g. "
        '"9-15") leaving this one out, point INTEGRATION_KIT_REDIS_URL at a server set aside for tests, '
        'empty that database yourself if its data is disposable, or set redis_isolation = "prefix" on '
        "the test class (keys under ik:<worker>: in the URL's database).",
    )
    REDIS_DATABASES_EXHAUSTED = (
        "IK-REDIS-DATABASES-EXHAUSTED",
        "{workers} worker(s) need a Redis database each, but redis_databases declares {count}: "
        "{declared}; worker {worker} has none",
        'Declare more databases in INTEGRATION_KIT_REDIS_DATABASES (redis_databases, e.g. "1-15"), '
        'run fewer workers (-n), or isolate by key prefix (redis_isolation = "prefix").',
    )
    # --- mocks ---
    MOCK_INVALID_OPERATION = (
        "IK-MOCK-INVALID-OPERATION",
        "Mock {mock} cannot {operation}: {cause}",
        "{fix}",
    )
    # --- mocks: kafka ---
    MOCK_KAFKA_NOT_STARTED = (
        "IK-MOCK-KAFKA-NOT-STARTED",
        "Mock Kafka {client} cannot {operation} before start()",
        "Call `await {client}.start()` first, or use `async with` on it.",
    )
    MOCK_KAFKA_NO_CLUSTER = (
        "IK-MOCK-KAFKA-NO-CLUSTER",
        "Mock Kafka {client} was created without a MockKafkaCluster",
        "Pass cluster=..., create it with cluster.producer()/consumer()/admin(), "
        "or create it inside `with patch_aiokafka(cluster):`.",
    )
    MOCK_KAFKA_UNSUPPORTED = (
        "IK-MOCK-KAFKA-UNSUPPORTED",
        "Mock Kafka does not support {feature}",
        "Test code that needs {feature} against a real broker (KafkaTestCase).",
    )
    MOCK_KAFKA_INVALID_CHAOS = (
        "IK-MOCK-KAFKA-INVALID-CHAOS",
        "Invalid chaos setting {name}={value!r}: expected {expected}",
        "Fix the KafkaChaos arguments.",
    )
    MOCK_KAFKA_NOTHING_PATCHED = (
        "IK-MOCK-KAFKA-NOTHING-PATCHED",
        "Module {module!r} holds none of aiokafka's client classes, so patch_aiokafka() cannot patch it",
        "Pass the module that imports AIOKafkaProducer/AIOKafkaConsumer/AIOKafkaAdminClient "
        "(by name or `import aiokafka`), or drop it from the call.",
    )
    # --- mocks: redis and clock ---
    MOCK_CLOCK_BACKWARDS = (
        "IK-MOCK-CLOCK-BACKWARDS",
        "VirtualClock cannot move backwards (by {seconds}s)",
        "Real time never goes back; advance by a positive amount, or start a new VirtualClock.",
    )
    MOCK_CLOCK_CONFLICT = (
        "IK-MOCK-CLOCK-CONFLICT",
        "Mock {mock} was given clock {clock!r} and a server that runs on {server_clock!r}",
        "Pass only server= (its clock is used), or build the server with the clock you want.",
    )
    MOCK_FOREIGN_SERVER = (
        "IK-MOCK-FOREIGN-SERVER",
        "Mock {mock} needs a MockRedisServer, got {server_type}",
        "Share a server with server=MockRedisServer(clock=...), not a plain fakeredis.FakeServer.",
    )
    MOCK_UNSUPPORTED_VERSION = (
        "IK-MOCK-UNSUPPORTED-VERSION",
        "Mock {mock} cannot emulate version {version!r}: {cause}",
        "Use a version like '7.0', '7.4' or (7, 2).",
    )
    MOCK_REDIS_UNSUPPORTED = (
        "IK-MOCK-REDIS-UNSUPPORTED",
        "MockRedisClient does not support {feature}",
        "Test code that needs {feature} against a real Redis (RedisTestCase); "
        "docs/mocks.md lists what the mock does exactly.",
    )
    MOCK_FAKEREDIS_UNSUPPORTED = (
        "IK-MOCK-FAKEREDIS-UNSUPPORTED",
        "MockRedisClient needs fakeredis {supported}, found {found}: {cause}",
        "Install a fakeredis the kit is tested with: pip install 'fakeredis{supported}'.",
    )
    # --- metrics ---
    METRICS_INVALID_SHARD = (
        "IK-METRICS-INVALID-SHARD",
        "Invalid shard {spec!r}: expected i/K with 1 <= i <= K",
        "Pass --ik-shard=1/3, --ik-shard=2/3 and --ik-shard=3/3 to three CI jobs.",
    )
    METRICS_DB_UNREADABLE = (
        "IK-METRICS-DB-UNREADABLE",
        "Run history {path} cannot be used: {cause}",
        "Delete the file to start a new history, or point metrics_db at another path.",
    )
    METRICS_NO_HISTORY = (
        "IK-METRICS-NO-HISTORY",
        "No run history at {path}",
        "Run pytest with the integration-kit metrics plugin first, or pass --db PATH.",
    )
    METRICS_QUARANTINE_INVALID = (
        "IK-METRICS-QUARANTINE-INVALID",
        "Quarantine file {path} cannot be used: {cause}",
        "Fix the JSON (integration-kit metrics quarantine add/remove writes it), or delete it.",
    )
    METRICS_NOT_FLAKY = (
        "IK-METRICS-NOT-FLAKY",
        "{nodeid} is not flaky in the last {window} runs of the history, so it is not quarantined",
        "Quarantine only tests the detector shows flaky (integration-kit metrics flaky), "
        "or pass --force with a reason.",
    )
    METRICS_DETACHED_VALUE = (
        "IK-METRICS-DETACHED-VALUE",
        "Option {option} was given its value as a separate argument ({value!r})",
        "Write {option}=VALUE: pytest reads a separate value as a test path before the plugin "
        "sees the option, which can change the rootdir and configuration.",
    )
    # --- suite health ---
    SUITE_FAILS_ALONE = (
        "IK-SUITE-FAILS-ALONE",
        "{nodeid} fails when run alone, so no earlier test pollutes it",
        "Fix the test itself: run `pytest {nodeid}` and read its failure.",
    )
    SUITE_NOT_REPRODUCED = (
        "IK-SUITE-NOT-REPRODUCED",
        "{nodeid} passed after {tried}; the pollution was not reproduced: {cause}",
        "The failure may be flaky rather than order-dependent (see integration-kit metrics "
        "flaky), or need several earlier tests together.",
    )
    SUITE_NO_ORDER = (
        "IK-SUITE-NO-ORDER",
        "No recorded run in which {nodeid} failed after other tests: {cause}",
        "Run the suite with the metrics plugin (positions are recorded since schema 2), "
        "or pass --run ID of a run where it failed.",
    )
    SUITE_LINT_PATH = (
        "IK-SUITE-LINT-PATH",
        "Cannot lint {path}: {cause}",
        "Pass a directory of test modules (default: tests/ under the project root).",
    )
    # --- dependencies ---
    DEP_MISSING = (
        "IK-DEP-MISSING",
        "{feature} needs the package {package} ({requirement}), which is not installed",
        "pip install 'integration-kit[{extra}]' (or add {requirement} to your dependencies).",
    )
    DEP_UNSUPPORTED_VERSION = (
        "IK-DEP-UNSUPPORTED-VERSION",
        "{feature} needs {requirement}, but {package} {installed} is installed",
        "pip install '{requirement}' (integration-kit is tested with exactly that range).",
    )
    # --- seeding ---
    SEED_INVALID = (
        "IK-SEED-INVALID",
        "{factory} built invalid data: field {field!r} breaks rule {rule}",
        "Fix the factory's declarations or the overrides passed to it; the rule comes from {source}.",
    )
    SEED_UNKNOWN_COLUMN = (
        "IK-SEED-UNKNOWN-COLUMN",
        "{factory} sets {fields} which {table} does not have; its columns are: {columns}",
        "Rename the factory field to one of the columns, or declare it in class Params.",
    )
    SEED_UNKNOWN_TABLE = (
        "IK-SEED-UNKNOWN-TABLE",
        "{factory}: table {table} does not exist in database {database}",
        "Check Meta.table (schema-qualify it if it is not on the search_path) and that migrations ran.",
    )
    SEED_FOREIGN_KEY = (
        "IK-SEED-FOREIGN-KEY",
        "{factory}.{field}: cannot tell which foreign key of {table} refers to {parent}: {cause}",
        "Name the field after the foreign key column (e.g. customer_id = SubFactory(...)) "
        "or give the table one foreign key to {parent}.",
    )
    SEED_WRITE_FAILED = (
        "IK-SEED-WRITE-FAILED",
        "{factory} could not write {count} row(s) to {target}: {cause}",
        "Read the cause (a constraint, a type); the batch was rolled back.",
    )
    SEED_NO_STORE = (
        "IK-SEED-NO-STORE",
        "{factory} writes to {store}, but no {store} is open for seeding here",
        "Run it in a test class with the {store} base class, in a scenario seeded by one, or inside "
        "seeding.use({store}=...).",
    )
    SEED_UNKNOWN_SCENARIO = (
        "IK-SEED-UNKNOWN-SCENARIO",
        "Scenario {name!r} (required by {by}) not found; known: {known}",
        "Check the name in requires=[...], or pass the Scenario object itself.",
    )
    SEED_SCENARIO_CYCLE = (
        "IK-SEED-SCENARIO-CYCLE",
        "Scenarios require each other in a cycle: {cycle}",
        "Break the cycle: move the shared data into a scenario both require.",
    )
    SEED_INVALID_SEED = (
        "IK-SEED-INVALID-SEED",
        "Invalid seed {value!r} from {source}: expected an integer >= 0",
        "Pass --ik-seed=N with N a non-negative integer (the seed printed by a failing run).",
    )
    # --- usage ---
    USAGE_SPEC_CONFLICT = (
        "IK-USAGE-SPEC-CONFLICT",
        "Two different specs share the service name {key!r}: {first} and {second}",
        "Give one of them its own name= (each name is one service of the run).",
    )
    USAGE_INVALID_TIMEOUT = (
        "IK-USAGE-INVALID-TIMEOUT",
        "Invalid timeout {timeout!r} for {what}: expected a finite number of seconds >= 0",
        "Pass a finite timeout (nan or inf would wait forever, a negative one never at all).",
    )
    USAGE_INVALID_DECLARATION = (
        "IK-USAGE-INVALID-DECLARATION",
        "Invalid declaration {attribute} = {value!r} on {owner}: expected {expected}",
        "Fix the class attribute.",
    )


class _SafeFormatter(string.Formatter):
    """Formats templates, leaving unknown fields visible instead of failing, and masking
    credentials in every value (:func:`~integration_kit.redaction.redact`)."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if isinstance(value, str):
            value = redact(value)  # before repr, whose quoting could hide where a URL ends
        return super().convert_field(value, conversion)

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str) and key not in kwargs:
            return _Missing(key)
        return super().get_value(key, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Missing):
            return "{" + value.name + "}"
        try:
            return redact(super().format_field(value, format_spec))
        except (TypeError, ValueError):
            return redact(str(value))


class _Missing:
    def __init__(self, name: str) -> None:
        self.name = name

    def __format__(self, spec: str) -> str:
        return "{" + self.name + "}"

    def __repr__(self) -> str:
        return "{" + self.name + "}"


_FORMATTER = _SafeFormatter()


class IntegrationKitError(Exception):
    """Base of every error the kit raises.

    ``code`` is the stable :class:`ErrorCode`, ``context`` the values the message
    was built from, ``hint`` what to do about it; ``log_tail`` the last lines of a
    service's log where one is involved.
    """

    def __init__(
        self,
        code: ErrorCode,
        *,
        hint: str | None = None,
        log_tail: str | None = None,
        **context: Any,
    ) -> None:
        self.code = code
        self.context = context
        self.hint = redact(hint) if hint is not None else _FORMATTER.format(code.hint, **context)
        self.log_tail = None if log_tail is None else redact(log_tail)
        self.message = _FORMATTER.format(code.template, **context)
        super().__init__(self._render())

    def _render(self) -> str:
        text = f"[{self.code.value}] {self.message}\n  hint: {self.hint}"
        if self.log_tail:
            indented = "\n".join("    " + line for line in self.log_tail.rstrip().splitlines())
            text += f"\n  log tail:\n{indented}"
        return text


class ConfigError(IntegrationKitError, ValueError):
    """Bad settings: unknown keys, invalid values."""


class ContractError(IntegrationKitError, AssertionError):
    """A message, provider, HTTP service or schema change breaks a contract (a test failure)."""


class ContractDefinitionError(IntegrationKitError, ValueError):
    """A contract definition is invalid, missing, duplicated, or asked for in an unknown mode."""


class ServiceError(IntegrationKitError, RuntimeError):
    """A service could not be started, reached or stopped."""


class HealthCheckError(IntegrationKitError, TimeoutError):
    """A health check did not pass within its deadline."""


class WaitTimeoutError(IntegrationKitError, TimeoutError):
    """``wait_until`` / ``eventually`` ran out of time."""


class KafkaError(IntegrationKitError, RuntimeError):
    """Topic setup, readiness, assignment or message expectations failed."""


class PostgresError(IntegrationKitError, RuntimeError):
    """Migrations, snapshots or restores failed."""


class RedisError(IntegrationKitError, RuntimeError):
    """Redis reset, snapshot or assertions failed."""


class MockError(IntegrationKitError, RuntimeError):
    """A mock was used in a way its real counterpart would refuse."""


class MetricsError(IntegrationKitError, RuntimeError):
    """The run history cannot be read or written, or a metrics option is invalid."""


class SuiteError(IntegrationKitError, RuntimeError):
    """A suite-health tool (pollution bisect, lint-tests) cannot give an answer."""


class DependencyError(IntegrationKitError, ImportError):
    """A package the kit needs is missing, or installed outside the range the kit is tested with."""


class SeedError(IntegrationKitError, RuntimeError):
    """Factories or scenarios could not build, validate or write their data."""


class SeedValidationError(SeedError, ValueError):
    """A factory built data that breaks its declared validation (``IK-SEED-INVALID``)."""


class UsageError(IntegrationKitError, TypeError):
    """The kit's API was used wrongly (bad class declarations, arguments)."""


class KafkaArgumentError(KafkaError, UsageError):
    """An argument the Kafka layer refuses: a KafkaError and a UsageError (a ``TypeError``)."""


#: The exception class that carries each area's codes (the code's second part). Contract
#: codes are split: a bad definition is a ContractDefinitionError (ValueError), the rest a
#: ContractError (AssertionError, a test failure); a refused Kafka argument is a
#: KafkaArgumentError (a KafkaError that is also a UsageError).
CLASS_FOR_AREA: dict[str, type[IntegrationKitError]] = {
    "CONFIG": ConfigError,
    "CONTRACT": ContractError,
    "DEP": DependencyError,
    "DOCKER": ServiceError,
    "EXTERNAL": ServiceError,
    "HEALTH": HealthCheckError,
    "KAFKA": KafkaError,
    "LOCAL": ServiceError,
    "METRICS": MetricsError,
    "MOCK": MockError,
    "PG": PostgresError,
    "REDIS": RedisError,
    "SEED": SeedError,
    "SUITE": SuiteError,
    "SVC": ServiceError,
    "USAGE": UsageError,
    "WAIT": WaitTimeoutError,
}
CONTRACT_DEFINITION_CODES = frozenset(
    {
        ErrorCode.CONTRACT_INVALID,
        ErrorCode.CONTRACT_NOT_FOUND,
        ErrorCode.CONTRACT_DUPLICATE,
        ErrorCode.CONTRACT_UNKNOWN_MODE,
    }
)


def error_class(code: ErrorCode) -> type[IntegrationKitError]:
    """The exception class (or a subclass of it) that raises ``code``; checked for every
    raise in the kit by its tests."""
    if code in CONTRACT_DEFINITION_CODES:
        return ContractDefinitionError
    if code is ErrorCode.KAFKA_INVALID_ARGUMENT:
        return KafkaArgumentError
    return CLASS_FOR_AREA[code.value.split("-")[1]]


def has_code(exc: BaseException | None, code: ErrorCode) -> bool:
    """Whether ``exc`` or an error it was raised from (``__cause__``, then ``__context__``)
    carries ``code``::

        except ServiceError as exc:
            if has_code(exc, ErrorCode.SVC_NO_BACKEND): ...
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, IntegrationKitError) and exc.code is code:
            return True
        exc = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    return False


@contextmanager
def raises_code(code: ErrorCode) -> Iterator[list[IntegrationKitError]]:
    """Assert that the block raises an :class:`IntegrationKitError` with ``code``.

    Yields a list that holds the caught error afterwards::

        with raises_code(ErrorCode.KAFKA_TOPIC_NOT_READY) as caught:
            ...
        assert caught[0].context["pending"]
    """
    caught: list[IntegrationKitError] = []
    try:
        yield caught
    except IntegrationKitError as exc:
        if exc.code is not code:
            raise AssertionError(f"expected {code.value}, got {exc.code.value}: {exc}") from exc
        caught.append(exc)
    else:
        raise AssertionError(f"expected {code.value}, nothing was raised")
