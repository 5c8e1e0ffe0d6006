"""PostgreSQL: migrations, snapshots, isolation strategies, state verification.

Usable without the base classes: :class:`IsolatedDatabase` is the whole lifecycle;
``PostgresTestCase`` (``integration_kit.postgres.testcase``) drives it per test class.
"""

from integration_kit.dependencies import require

require("asyncpg", feature="the PostgreSQL layer (integration_kit.postgres)")

from integration_kit.postgres.database import IsolatedDatabase
from integration_kit.postgres.handle import PostgresHandle
from integration_kit.postgres.janitor import Janitor
from integration_kit.postgres.migrations import apply_migrations, run_seed, split_statements
from integration_kit.postgres.snapshot import Snapshot, SnapshotCache, build_snapshot
from integration_kit.postgres.strategies import STRATEGIES
from integration_kit.postgres.verify import (
    Checksum,
    Diff,
    SequenceState,
    TableDiff,
    assert_rows,
    diff,
    sequence_states,
    sequence_values,
    table_checksums,
    table_counts,
)

__all__ = [
    "STRATEGIES",
    "Checksum",
    "Diff",
    "IsolatedDatabase",
    "Janitor",
    "PostgresHandle",
    "SequenceState",
    "Snapshot",
    "SnapshotCache",
    "TableDiff",
    "apply_migrations",
    "assert_rows",
    "build_snapshot",
    "diff",
    "run_seed",
    "sequence_states",
    "sequence_values",
    "split_statements",
    "table_checksums",
    "table_counts",
]
