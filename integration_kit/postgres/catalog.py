"""The schema fingerprint: one digest per catalog object of a database.

:func:`schema_objects` reads every user object a migration can create or a test can
change (schemas, relations with their columns, defaults, identity/generated flags,
partition bounds, view definitions, indexes, constraints, triggers, rules, policies,
functions, types, enums, domains, extensions, default privileges, event triggers, the
user objects of the smaller catalogs, comments and security labels on anything, owners
and grants) as ``{identity: digest}``. Two databases cloned from one template compare
equal until one of them changes; :func:`compare` names what differs. Object text is
rendered with ``search_path = pg_catalog`` so it does not depend on the session.
"""

from __future__ import annotations

import hashlib
from typing import Any

_USER_NS = (
    "select oid, nspname from pg_catalog.pg_namespace "
    "where nspname not in ('pg_catalog', 'information_schema') and nspname !~ '^pg_(toast|temp)'"
)

# Small catalogs whose user rows are compared whole (their oids are stable across clones).
_GENERIC = (
    "pg_operator",
    "pg_opclass",
    "pg_opfamily",
    "pg_amop",
    "pg_amproc",
    "pg_collation",
    "pg_conversion",
    "pg_cast",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
    "pg_statistic_ext",
    "pg_foreign_data_wrapper",
    "pg_foreign_server",
    "pg_transform",
    "pg_publication",
    "pg_publication_rel",
    "pg_language",
    "pg_am",
)


def _member_filter(catalog: str) -> str:
    """Leave out rows belonging to an extension (operator class members via their family)."""
    family = {"pg_amop": "t.amopfamily", "pg_amproc": "t.amprocfamily"}.get(catalog)
    if family is not None:
        return _NOT_MEMBER.format(catalog="pg_opfamily", oid=family)
    return _NOT_MEMBER.format(catalog=catalog, oid="t.oid")


# Members of an extension change only with the extension's version (compared as such), so
# they are left out object by object: an extension such as btree_gist has hundreds.
_NOT_MEMBER = (
    "not exists (select 1 from pg_depend e where e.classid = '{catalog}'::regclass "
    "and e.objid = {oid} and e.deptype = 'e')"
)

SCHEMA_OBJECTS_SQL = f"""
with ns as ({_USER_NS})
select 'schema ' || quote_ident(n.nspname) as identity,
    md5(concat_ws('|', pg_get_userbyid(n.nspowner), n.nspacl::text)) as digest
from ns join pg_namespace n on n.oid = ns.oid
union all
select 'relation ' || quote_ident(ns.nspname) || '.' || quote_ident(c.relname),
    md5(concat_ws('|', c.relkind, c.relpersistence, pg_get_userbyid(c.relowner), c.relacl::text,
        c.reloptions::text, c.relrowsecurity, c.relforcerowsecurity, c.relreplident, c.relispartition,
        pg_get_expr(c.relpartbound, c.oid),
        case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end,
        case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end,
        case when c.relkind = 'm' then c.relispopulated end,
        case when c.relkind in ('i', 'I') then pg_get_indexdef(c.oid) end,
        (select concat_ws(',', x.indisclustered, x.indisreplident, x.indisvalid)
         from pg_index x where x.indexrelid = c.oid),
        (select string_agg(concat_ws(':', a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                a.attidentity, a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attcollation,
                a.attacl::text, a.attstattarget, a.attstorage, a.attcompression, a.attoptions::text),
                ',' order by a.attnum)
         from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped),
        (select string_agg(i.inhparent::regclass::text, ',' order by i.inhseqno)
         from pg_inherits i where i.inhrelid = c.oid),
        (select concat_ws(',', s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmax, s.seqmin,
                s.seqcache, s.seqcycle)
         from pg_sequence s where s.seqrelid = c.oid)))
from ns join pg_class c on c.relnamespace = ns.oid
where {_NOT_MEMBER.format(catalog="pg_class", oid="c.oid")}
union all
select 'constraint ' || coalesce(co.conrelid::regclass::text, co.contypid::regtype::text) || ' '
        || quote_ident(co.conname),
    md5(concat_ws('|', co.contype, pg_get_constraintdef(co.oid), co.convalidated, co.connoinherit,
        co.conislocal))
from ns join pg_constraint co on co.connamespace = ns.oid
union all
select 'trigger ' || t.tgrelid::regclass::text || ' ' || quote_ident(t.tgname),
    md5(concat_ws('|', pg_get_triggerdef(t.oid), t.tgenabled))
from pg_trigger t join pg_class c on c.oid = t.tgrelid join ns on ns.oid = c.relnamespace
where not t.tgisinternal
union all
select 'rule ' || r.ev_class::regclass::text || ' ' || quote_ident(r.rulename),
    md5(concat_ws('|', pg_get_ruledef(r.oid), r.ev_enabled))
from pg_rewrite r join pg_class c on c.oid = r.ev_class join ns on ns.oid = c.relnamespace
where r.rulename <> '_RETURN'
union all
select 'policy ' || p.polrelid::regclass::text || ' ' || quote_ident(p.polname),
    md5(concat_ws('|', p.polcmd, p.polpermissive, p.polroles::regrole[]::text,
        pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)))
from pg_policy p join pg_class c on c.oid = p.polrelid join ns on ns.oid = c.relnamespace
union all
select 'function ' || p.oid::regprocedure::text,
    md5(concat_ws('|', p.prokind, pg_get_userbyid(p.proowner), p.proacl::text,
        case when p.prokind = 'a'
             then (select g::text from pg_aggregate g where g.aggfnoid = p.oid) || p.prosrc
             else pg_get_functiondef(p.oid) end))
from ns join pg_proc p on p.pronamespace = ns.oid
where {_NOT_MEMBER.format(catalog="pg_proc", oid="p.oid")}
union all
select 'type ' || t.oid::regtype::text,
    md5(concat_ws('|', t.typtype, pg_get_userbyid(t.typowner), t.typacl::text, t.typnotnull,
        t.typdefault, format_type(t.typbasetype, t.typtypmod), t.typcollation,
        (select string_agg(e.enumlabel, ',' order by e.enumsortorder)
         from pg_enum e where e.enumtypid = t.oid),
        (select rg::text from pg_range rg where rg.rngtypid = t.oid)))
from ns join pg_type t on t.typnamespace = ns.oid
where (t.typrelid = 0 or exists (select 1 from pg_class c where c.oid = t.typrelid and c.relkind = 'c'))
  and not exists (select 1 from pg_type e where e.typarray = t.oid)
  and {_NOT_MEMBER.format(catalog="pg_type", oid="t.oid")}
union all
select 'extension ' || quote_ident(x.extname),
    md5(concat_ws('|', x.extversion, x.extnamespace::regnamespace::text, x.extrelocatable, x.extconfig::text,
        x.extcondition::text))
from pg_extension x
union all
select 'default privileges ' || pg_get_userbyid(a.defaclrole) || ' '
        || coalesce(a.defaclnamespace::regnamespace::text, '*') || ' ' || a.defaclobjtype::text,
    md5(a.defaclacl::text)
from pg_default_acl a
union all
select 'event trigger ' || quote_ident(e.evtname),
    md5(concat_ws('|', e.evtevent, e.evtfoid::regproc::text, e.evtenabled, e.evttags::text,
        pg_get_userbyid(e.evtowner)))
from pg_event_trigger e
union all
select 'comment on ' || pg_describe_object(d.classoid, d.objoid, d.objsubid), md5(d.description)
from pg_description d
where d.objoid >= 16384 and not exists (
    select 1 from pg_depend e where e.classid = d.classoid and e.objid = d.objoid and e.deptype = 'e')
union all
select 'security label ' || l.provider || ' on ' || pg_describe_object(l.classoid, l.objoid, l.objsubid),
    md5(l.label)
from pg_seclabel l where l.objoid >= 16384
union all
select 'large object ' || m.oid::text, md5(concat_ws('|', pg_get_userbyid(m.lomowner), m.lomacl::text))
from pg_largeobject_metadata m
""" + "".join(
    f"union all select '{catalog} ' || (pg_identify_object('{catalog}'::regclass, t.oid, 0)).identity, "
    f"md5(t::text) from {catalog} t where t.oid >= 16384 and {_member_filter(catalog)}\n"
    for catalog in _GENERIC
)


async def _with_catalog_path(conn: Any, sql: str) -> list[Any]:
    """Run ``sql`` with ``search_path = pg_catalog`` in a savepoint that is rolled back."""
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute("set local search_path = pg_catalog")
        return list(await conn.fetch(sql))
    finally:
        await tx.rollback()


async def schema_objects(conn: Any) -> dict[str, str]:
    """``{identity: digest}`` of every user catalog object of the connection's database."""
    rows = await _with_catalog_path(conn, SCHEMA_OBJECTS_SQL)
    return {r["identity"]: r["digest"] for r in rows}


def digest(objects: dict[str, str]) -> str:
    """One digest over :func:`schema_objects`' result."""
    h = hashlib.sha1()
    for identity in sorted(objects):
        h.update(identity.encode())
        h.update(b"\0")
        h.update(objects[identity].encode())
        h.update(b"\n")
    return h.hexdigest()


def compare(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """``{identity: 'added' | 'removed' | 'changed'}`` for the objects that differ."""
    out: dict[str, str] = {}
    for identity in sorted(set(before) | set(after)):
        if identity not in before:
            out[identity] = "added"
        elif identity not in after:
            out[identity] = "removed"
        elif before[identity] != after[identity]:
            out[identity] = "changed"
    return out
