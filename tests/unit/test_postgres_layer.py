"""Unit tests of the PostgreSQL layer's pure parts (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.postgres import IsolatedDatabase, split_statements
from integration_kit.postgres import __all__ as exported
from integration_kit.postgres.janitor import Janitor, comment_owner, dsn_for, owner_comment
from integration_kit.postgres.migrations import migration_files, resolve_sources
from integration_kit.postgres.strategies import STRATEGIES, strategy_class
from integration_kit.services.namespace import Namespace
from integration_kit.services.ownership import Owner

pytestmark = pytest.mark.unit


def test_exports_exist():
    import integration_kit.postgres as pkg

    assert len(set(exported)) == len(exported)
    assert all(hasattr(pkg, name) for name in exported)


def test_split_statements_respects_quotes_comments_and_dollar_quotes():
    sql = """
    -- a comment; with a semicolon
    create table "we;ird" (a text default 'x;y', b text default E'it\\'s; fine');
    /* block; /* nested; */ still comment */
    create function f() returns int language sql as $body$ select 1; $body$;
    insert into t values ('O''Brien; Jr');;
    do $$ begin perform 1; end $$
    """
    statements = split_statements(sql)
    assert len(statements) == 4
    assert statements[0].endswith("""b text default E'it\\'s; fine')""")
    assert "$body$ select 1; $body$" in statements[1]
    assert statements[2] == "insert into t values ('O''Brien; Jr')"
    assert statements[3] == "do $$ begin perform 1; end $$"


def test_split_statements_drops_comment_only_pieces():
    assert split_statements("-- nothing\n;  /* x */ ;") == []


def test_migration_files_in_natural_order(tmp_path):
    for name in ("10_c.sql", "2_b.sql", "1_a.sql", "notes.txt"):
        (tmp_path / name).write_text("select 1;")
    assert [p.name for p in migration_files(tmp_path)] == ["1_a.sql", "2_b.sql", "10_c.sql"]


def test_relative_migrations_are_found_next_to_the_test_module(tmp_path):
    (tmp_path / "migrations").mkdir()
    assert resolve_sources("migrations", base_dirs=[tmp_path]) == [(tmp_path / "migrations").resolve()]


def test_missing_migrations_directory_is_a_coded_error(tmp_path):
    with raises_code(ErrorCode.PG_MIGRATIONS_MISSING) as caught:
        resolve_sources(tmp_path / "absent")
    assert "absent" in caught[0].context["path"]


def test_unknown_strategy():
    with raises_code(ErrorCode.PG_UNKNOWN_STRATEGY) as caught:
        IsolatedDatabase("postgresql://localhost/postgres", isolation="rollback")
    assert caught[0].context["known"] == "transaction, swap, template, truncate"
    assert strategy_class("swap") is STRATEGIES["swap"]


def test_unknown_strategy_on_a_test_class():
    from integration_kit.postgres.testcase import PostgresTestCase

    with raises_code(ErrorCode.PG_UNKNOWN_STRATEGY):

        class TestBad(PostgresTestCase):
            postgres_isolation = "snapshot"


def test_strategies_document_sequence_restores():
    assert {name: cls.restores_sequences for name, cls in STRATEGIES.items()} == {
        "transaction": True,
        "swap": True,
        "template": True,
        "truncate": True,
    }


def test_owner_comment_round_trip():
    owner = Owner.current()
    comment = owner_comment(owner)
    assert comment_owner(comment) == owner
    assert owner.alive()
    assert comment_owner("some other comment") is None
    assert comment_owner(owner.text) is None  # a bare marker is not a database comment
    assert owner.run_id and f"pid={owner.pid}" in comment and f"host={owner.host}" in comment


def test_derived_names_fit_postgres_limit():
    janitor = Janitor("postgresql://localhost/postgres")
    working = Namespace("gw12").database("ik_" + "x" * 80)
    assert len(working.encode()) <= 63 and working.endswith("_gw12")
    spare = janitor.derived_name(working, "s123")
    assert len(spare.encode()) <= 63
    assert spare.endswith("_gw12") and "_s123_" in spare
    assert janitor.derived_name("ik_test", "o1").startswith("ik_test_o1_")


def test_dsn_for_replaces_only_the_database():
    assert dsn_for("postgresql://u:p@h:5/postgres?sslmode=disable", "ik_t_gw0") == (
        "postgresql://u:p@h:5/ik_t_gw0?sslmode=disable"
    )


def test_migrations_path_object(tmp_path: Path):
    (tmp_path / "a.sql").write_text("select 1;")
    assert migration_files(tmp_path / "a.sql") == [tmp_path / "a.sql"]


def test_database_settings_are_rendered_as_pg_dump_does():
    from integration_kit.postgres.database_state import set_clause

    assert set_clause("search_path=app, public") == "set \"search_path\" = 'app', 'public'"
    assert set_clause('search_path="$user", "my schema"') == "set \"search_path\" = '$user', 'my schema'"
    assert set_clause("lock_timeout=5s") == "set \"lock_timeout\" = '5s'"
    assert set_clause("application_name=it's=ok") == "set \"application_name\" = 'it''s=ok'"


def test_database_state_statements_turn_a_clone_into_the_snapshot():
    from integration_kit.postgres.database_state import DatabaseState

    fresh = DatabaseState("kit", None, -1, "marker", "[]", None)
    assert fresh.is_default_for("kit") and not fresh.is_default_for("other")
    snap = DatabaseState(
        "app",
        "{=c/app,app=CTc/app}",
        5,
        "marker",
        '[["", ["search_path=app, public"]], ["reader", ["work_mem=8MB"]]]',
        '[["", "CONNECT", false], ["app", "CREATE", false]]',
    )
    assert snap.statements("db", current=fresh) == [
        'alter database "db" owner to "app"',
        'alter database "db" connection limit 5',
        'revoke all on database "db" from "app", public cascade',
        'grant CONNECT on database "db" to public',
        'grant CREATE on database "db" to "app"',
        "alter database \"db\" set \"search_path\" = 'app', 'public'",
        'alter role "reader" in database "db" set "work_mem" = \'8MB\'',
    ]
    assert set(snap.differences(fresh)) == {"owner", "grants", "connection limit", "settings"}


def test_schema_fingerprint_compare_names_what_differs():
    from integration_kit.postgres import catalog

    before = {"relation public.a": "1", "relation public.b": "2", "schema app": "3"}
    after = {"relation public.a": "1", "relation public.b": "9", "schema extra": "4"}
    assert catalog.compare(before, after) == {
        "relation public.b": "changed",
        "schema app": "removed",
        "schema extra": "added",
    }
    assert catalog.digest(before) == catalog.digest(dict(reversed(before.items())))
    assert catalog.digest(before) != catalog.digest(after)
