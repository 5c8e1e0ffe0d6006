"""Database-level state: what ``CREATE DATABASE ... TEMPLATE`` does not copy.

Settings (``ALTER DATABASE ... SET``, ``ALTER ROLE ... IN DATABASE ... SET``), grants on
the database, its owner and connection limit live in shared catalogs keyed by the
database, so a clone starts without them. :class:`DatabaseState` reads them from the
snapshot after migrations and seed and applies them to every clone. The database
comment is the kit's ownership marker and is not the app's to change (a migration that
changes it is refused with ``IK-PG-SNAPSHOT-UNSUPPORTED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from integration_kit.errors import ErrorCode, PostgresError

_READ_SQL = """
select pg_get_userbyid(d.datdba) as owner, d.datacl::text as acl, d.datconnlimit as connlimit,
    shobj_description(d.oid, 'pg_database') as comment,
    coalesce((select json_agg(json_build_array(coalesce(r.rolname, ''), s.setconfig)
                              order by coalesce(r.rolname, ''))::text
              from pg_db_role_setting s left join pg_roles r on r.oid = s.setrole
              where s.setdatabase = d.oid), '[]') as settings,
    (select json_agg(json_build_array(coalesce(g.rolname, ''), x.privilege_type, x.is_grantable)
                     order by x0.ordinality)::text
     from unnest(d.datacl) with ordinality as x0(item, ordinality)
     cross join lateral aclexplode(array[x0.item]) as x
     left join pg_roles g on g.oid = x.grantee) as grants
from pg_database d where d.datname = $1
"""

# GUCs whose value is a list of separately quoted items (pg_dump's variable_is_guc_list_quote).
_LIST_GUCS = frozenset(
    {
        "local_preload_libraries",
        "search_path",
        "session_preload_libraries",
        "shared_preload_libraries",
        "temp_tablespaces",
        "unix_socket_directories",
    }
)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _split_list(value: str) -> list[str]:
    """Split a list GUC's value at commas outside double quotes, unquoting items."""
    items: list[str] = []
    current: list[str] = []
    quoted = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == '"':
            if quoted and value.startswith('""', i):
                current.append('"')
                i += 2
                continue
            quoted = not quoted
        elif ch == "," and not quoted:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    items.append("".join(current).strip())
    return [item for item in items if item]


def set_clause(entry: str) -> str:
    """``name=value`` (as stored in ``pg_db_role_setting``) as ``SET name = <value>``."""
    name, _, value = entry.partition("=")
    if name.lower() in _LIST_GUCS:
        rendered = ", ".join(_literal(item) for item in _split_list(value)) or "''"
    else:
        rendered = _literal(value)
    return f"set {_ident(name)} = {rendered}"


@dataclass(frozen=True)
class DatabaseState:
    """Owner, grants, connection limit, comment and settings of one database."""

    owner: str
    acl: str | None
    connlimit: int
    comment: str | None
    settings: str  # JSON: [[role or "", ["name=value", ...]], ...]
    grants: str | None  # JSON: [[grantee or "" (PUBLIC), privilege, grantable], ...]

    @classmethod
    async def read(cls, conn: Any, database: str) -> DatabaseState:
        row = await conn.fetchrow(_READ_SQL, database)
        if row is None:
            raise LookupError(database)
        return cls(
            owner=row["owner"],
            acl=row["acl"],
            connlimit=row["connlimit"],
            comment=row["comment"],
            settings=row["settings"],
            grants=row["grants"],
        )

    def is_default_for(self, role: str) -> bool:
        """Whether a fresh clone made by ``role`` already has this state (nothing to apply)."""
        return self.owner == role and self.acl is None and self.connlimit == -1 and self.settings == "[]"

    def describe(self) -> dict[str, Any]:
        """What a diff shows: every part by name."""
        return {
            "owner": self.owner,
            "grants": self.acl,
            "connection limit": self.connlimit,
            "comment": self.comment,
            "settings": self.settings,
        }

    def differences(self, other: DatabaseState) -> dict[str, tuple[Any, Any]]:
        """``{part: (self's, other's)}`` for the parts that differ."""
        mine, theirs = self.describe(), other.describe()
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    def statements(self, database: str, *, current: DatabaseState) -> list[str]:
        """SQL that turns a fresh clone (in state ``current``) into this state."""
        import json

        db = _ident(database)
        out: list[str] = []
        if self.owner != current.owner:
            out.append(f"alter database {db} owner to {_ident(self.owner)}")
        if self.connlimit != current.connlimit:
            out.append(f"alter database {db} connection limit {int(self.connlimit)}")
        if self.acl != current.acl and self.acl is not None:
            grantees = {"public"} | {_ident(g) for g, _p, _o in json.loads(current.grants or "[]") if g}
            grantees |= {_ident(g) for g, _p, _o in json.loads(self.grants or "[]") if g}
            grantees.add(_ident(self.owner))
            out.append(f"revoke all on database {db} from {', '.join(sorted(grantees))} cascade")
            for grantee, privilege, grantable in json.loads(self.grants or "[]"):
                who = _ident(grantee) if grantee else "public"
                option = " with grant option" if grantable else ""
                out.append(f"grant {privilege} on database {db} to {who}{option}")
        if self.settings != current.settings:
            for role, _entries in json.loads(current.settings):
                target = f"role {_ident(role)} in database {db}" if role else f"database {db}"
                out.append(f"alter {target} reset all")
            for role, entries in json.loads(self.settings):
                target = f"role {_ident(role)} in database {db}" if role else f"database {db}"
                out.extend(f"alter {target} {set_clause(entry)}" for entry in entries)
        return out

    async def apply(self, conn: Any, database: str) -> None:
        """Make ``database`` (a clone, in its fresh state) carry this state; verified."""
        current = await DatabaseState.read(conn, database)
        if current == self:
            return
        for statement in self.statements(database, current=current):
            await conn.execute(statement)
        after = await DatabaseState.read(conn, database)
        left = {k: v for k, v in after.differences(self).items() if k != "comment"}
        if left:
            raise PostgresError(
                ErrorCode.PG_SNAPSHOT_UNSUPPORTED,
                database=database,
                what=", ".join(f"{k} {v[1]!r} (got {v[0]!r})" for k, v in left.items()),
                cause="the kit could not reproduce the snapshot's database-level state on a clone",
            )
