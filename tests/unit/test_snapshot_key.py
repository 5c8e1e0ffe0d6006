"""Keys of snapshots kept across runs: one byte of a migration, a seed's code, the run seed
or the server version changes the key; what cannot be identified exactly has none."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from integration_kit.postgres.keyed_snapshots import SnapshotMarker
from integration_kit.postgres.snapshot_key import snapshot_key
from integration_kit.seeding.scenarios import scenario


def _migrations(root: Path, contents: list[bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.sql"):
        old.unlink()
    for index, content in enumerate(contents):
        (root / f"{index:03d}_m.sql").write_bytes(content)
    return root


def _key(
    path: Path, seeds: tuple[object, ...] = (), version: str = "150004", run_seed: int | None = 1
) -> str | None:
    return snapshot_key([path], seeds, server_version=version, run_seed=run_seed).key


def seed_hook(conn: object) -> None:
    """A seed hook defined in this file (its identity is this file's content)."""


@scenario
async def catalog(ctx: object) -> None:
    """A scenario defined in this file."""


@settings(max_examples=60, deadline=None)
@given(
    contents=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=5),
    data=st.data(),
)
def test_any_one_byte_change_in_any_file_changes_the_key(tmp_path_factory, contents, data) -> None:  # type: ignore[no-untyped-def]
    root = _migrations(tmp_path_factory.mktemp("m"), contents)
    before = _key(root)
    index = data.draw(st.integers(0, len(contents) - 1))
    position = data.draw(st.integers(0, len(contents[index]) - 1))
    changed = bytearray(contents[index])
    changed[position] = (changed[position] + data.draw(st.integers(1, 255))) % 256
    _migrations(root, [*contents[:index], bytes(changed), *contents[index + 1 :]])
    assert before is not None and _key(root) not in (None, before)


def test_the_key_is_stable_and_independent_of_the_directory(tmp_path: Path) -> None:
    one = _migrations(tmp_path / "a", [b"create table a (id int);", b"create table b (id int);"])
    two = _migrations(tmp_path / "b", [b"create table a (id int);", b"create table b (id int);"])
    assert _key(one) == _key(one) == _key(two)


def test_renaming_a_file_changes_the_key(tmp_path: Path) -> None:
    root = _migrations(tmp_path / "m", [b"create table a (id int);"])
    before = _key(root)
    (root / "000_m.sql").rename(root / "001_m.sql")
    assert _key(root) != before


def test_server_version_and_run_seed_are_part_of_the_key(tmp_path: Path) -> None:
    root = _migrations(tmp_path / "m", [b"create table a (id int);"])
    assert _key(root, version="150004") != _key(root, version="170002")
    assert _key(root, (seed_hook,), run_seed=1) != _key(root, (seed_hook,), run_seed=2)
    assert _key(root, (), run_seed=1) == _key(root, (), run_seed=2)  # no seed: no seed in the key


def test_seeds_are_identified_by_name_and_source(tmp_path: Path) -> None:
    root = _migrations(tmp_path / "m", [b"create table a (id int);"])
    assert _key(root) != _key(root, (seed_hook,)) != _key(root, (catalog,))
    assert _key(root, (catalog,)) == _key(root, (catalog,))


def test_what_cannot_be_identified_has_no_key(tmp_path: Path) -> None:
    def upgrade(dsn: str) -> None:
        """An alembic-like migration: what it applies is not visible to the kit."""

    found = snapshot_key([upgrade], [], server_version="1", run_seed=None)
    assert found.key is None and "ik_fingerprint" in found.reason
    lambda_seed = eval("lambda conn: None")  # no source file
    found = snapshot_key([], [lambda_seed], server_version="1", run_seed=None)
    assert found.key is None and "source file" in found.reason


def test_a_declared_fingerprint_keys_a_migration_callable() -> None:
    def upgrade(dsn: str) -> None:
        """An upgrade that says what it applies."""

    upgrade.ik_fingerprint = "alembic head 3f2a"  # type: ignore[attr-defined]
    first = snapshot_key([upgrade], [], server_version="1", run_seed=None).key
    upgrade.ik_fingerprint = "alembic head 9c1b"  # type: ignore[attr-defined]
    assert first is not None and snapshot_key([upgrade], [], server_version="1", run_seed=None).key != first


def test_markers_round_trip_and_foreign_comments_do_not_parse() -> None:
    marker = SnapshotMarker("ab12", "proj1", "tests.mod.TestX", 1700000000)
    assert SnapshotMarker.parse(marker.comment) == marker
    for comment in (None, "", "a user database", "integration-kit owner: run=x host=h pid=1 start=0",
                    marker.comment + " extra", marker.comment.replace("key=ab12", "key=XYZ")):  # fmt: skip
        assert SnapshotMarker.parse(comment) is None
