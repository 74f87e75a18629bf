"""The kind registry: every kind read, covered by the catalog token, classified field by field, and a
hand-made change of each seen by ``verify`` and by the no-op ``run`` of a database just synced."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import Server, initjob, write_schema
from psycopg import sql

from initjob.schema import catalog, kinds, reads, token
from initjob.schema.diff import plan_sync
from initjob.schema.model import Snapshot

# A catalog named in a query (pg_catalog.pg_class, pg_catalog."pg_class"), not a function call
# (pg_catalog.pg_get_expr(...)).
_CATALOG = re.compile(r"""pg_catalog\."?(pg_[a-z_]+)\b"?(?!\s*\()""")


def catalogs_in(query: sql.Composable) -> set[str]:
    return set(_CATALOG.findall(query.as_string(None)))


TOKEN_READS = catalogs_in(token._token_query())


def test_the_parser_sees_catalogs_and_not_functions() -> None:
    """The check below can fail: joins, subqueries and quoted names count; function calls do not."""
    query = sql.SQL("SELECT pg_catalog.pg_get_expr(x) FROM pg_catalog.pg_class c JOIN pg_catalog.\"pg_index\" i"
                    " ON (SELECT 1 FROM pg_catalog.pg_statistic_ext s) = 1")
    assert catalogs_in(query) == {"pg_class", "pg_index", "pg_statistic_ext"}


@pytest.mark.parametrize("kind", kinds.REGISTRY, ids=lambda k: k.key)
def test_every_catalog_a_kind_reads_is_declared_and_in_the_token(kind: kinds.Kind) -> None:
    """Every pg_catalog table the kind's query reads (joins and subqueries included) is in its entry's
    ``reads``, and the token digests it: otherwise a change there passes the no-op as up to date."""
    found = catalogs_in(kind.query)
    assert found <= kind.reads, f"{kind.key} reads {sorted(found - kind.reads)} without declaring it"
    assert kind.reads <= TOKEN_READS, f"the token does not read {sorted(kind.reads - TOKEN_READS)}"


@pytest.mark.parametrize("key", sorted(catalog.QUERIES))
def test_every_snapshot_query_is_covered_by_the_token(key: str) -> None:
    """The same over what ``read_snapshot`` really sends (the refused kinds' union, the dependencies)."""
    missing = catalogs_in(catalog.QUERIES[key]) - TOKEN_READS
    assert not missing, f"the {key} query reads {sorted(missing)}, which the catalog token does not"


def test_the_token_reads_exactly_the_registrys_catalogs() -> None:
    """reads.CATALOGS is the union of the entries' catalogs: nothing missing, nothing stale."""
    union = frozenset().union(kinds.DEPENDS_READS, *(k.reads for k in kinds.REGISTRY))
    assert set(reads.CATALOGS) == union and union == TOKEN_READS
    assert len(reads.CATALOGS) == len(set(reads.CATALOGS))


@pytest.mark.parametrize("kind", kinds.REGISTRY, ids=lambda k: k.key)
def test_every_field_of_a_kind_is_classified(kind: kinds.Kind) -> None:
    """A model field the registry does not classify (planned, refused, ...) fails here, not in production."""
    fields = {f.name: f for f in dataclasses.fields(kind.model)}
    assert set(kind.fields) == set(fields), (
        f"{kind.model.__name__}: unclassified {sorted(set(fields) - set(kind.fields))},"
        f" stale {sorted(set(kind.fields) - set(fields))}")
    for name, handling in kind.fields.items():
        assert (handling is kinds.Handling.IGNORED) == (not fields[name].compare), (kind.key, name)


def test_member_fields_are_held_by_member_kinds() -> None:
    """Each MEMBERS field names a member kind of the right class, and each member kind's owners exist."""
    held = {f"{k.key}.{name}" for k in kinds.REGISTRY for name, h in k.fields.items() if h is kinds.Handling.MEMBERS}
    owned = {owner: k for k in kinds.MEMBERS for owner in k.owners}
    assert held == set(owned)
    for owner, member in owned.items():
        key, name = owner.split(".")
        hint = typing.get_type_hints(kinds.BY_KEY[key].model)[name]
        assert typing.get_args(hint)[0] is member.model, owner


def test_every_compared_snapshot_field_is_a_kind() -> None:
    """Top-level kinds are Snapshot's fields, in its order (JSON and equality), refused kinds its unmanaged."""
    fields = [f.name for f in dataclasses.fields(Snapshot) if f.compare]
    assert [k.key for k in kinds.TOP_LEVEL] + ["unmanaged"] == fields


@pytest.mark.parametrize("kind", kinds.REFUSED, ids=lambda k: k.key)
def test_a_refused_object_is_compared_under_its_own_label(kind: kinds.Kind) -> None:
    """"operator class x" is an operator class, not an operator: the longest label wins."""
    item = catalog.Unmanaged("app", f"{kind.label} app.thing", "def")
    assert kinds.refused_kind(item.name) is kind
    lines = catalog.describe_differences(Snapshot(unmanaged=(item,)), Snapshot())
    assert lines == [f"{kind.label} app.thing unexpected"]


# ---------------------------------------------------------------------------------------------
# A hand-made change of every kind, on a database auto-sync has just brought up to date

DESIRED = """
CREATE SCHEMA shop;
CREATE TYPE shop.pair AS (a integer, b integer);
CREATE TABLE shop.items (id integer PRIMARY KEY, qty integer NOT NULL DEFAULT 0, note text);
CREATE INDEX items_qty_idx ON shop.items (qty);
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE VIEW shop.item_view AS SELECT id, qty FROM shop.items;
CREATE TRIGGER items_touch BEFORE UPDATE ON shop.items FOR EACH ROW EXECUTE FUNCTION shop.touch();
"""

# One per registry entry (test_every_kind_has_a_drift_case), each a new object of that kind or, for
# kinds that cannot be new on their own, a change of one; and the changes of fields that once passed.
DRIFT: dict[str, str] = {
    "schemas": "COMMENT ON SCHEMA shop IS 'by hand'",
    "extensions": "CREATE EXTENSION pg_trgm SCHEMA shop",
    "enums": "CREATE TYPE shop.mood AS ENUM ('ok')",
    "domains": "CREATE DOMAIN shop.positive AS integer CHECK (VALUE > 0)",
    "composites": "CREATE TYPE shop.point2 AS (x integer, y integer)",
    "sequences": "CREATE SEQUENCE shop.counter",
    "tables": "CREATE TABLE shop.extra (id integer)",
    "views": "CREATE VIEW shop.extra_view AS SELECT 1 AS one",
    "functions": "CREATE FUNCTION shop.one() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
    "collations": "CREATE COLLATION shop.c_copy (provider = libc, locale = 'C')",
    "ranges": "CREATE TYPE shop.floatrange AS RANGE (subtype = float8)",
    "columns": "ALTER TABLE shop.items ADD COLUMN extra integer",
    "constraints": "ALTER TABLE shop.items ADD CONSTRAINT items_qty_check CHECK (qty >= 0)",
    "indexes": "CREATE INDEX items_note_idx ON shop.items (note)",
    "triggers": "CREATE TRIGGER items_touch2 BEFORE UPDATE ON shop.items FOR EACH ROW EXECUTE FUNCTION shop.touch()",
    "policies": "CREATE POLICY items_all ON shop.items USING (true)",
    "aggregates": "CREATE AGGREGATE shop.total(integer) (sfunc = int4pl, stype = integer)",
    "rules": "CREATE RULE items_keep AS ON DELETE TO shop.items DO INSTEAD NOTHING",
    "statistics": "CREATE STATISTICS shop.items_stats ON id, qty FROM shop.items",
    "operators": "CREATE OPERATOR shop.=== (leftarg = integer, rightarg = integer, function = int4eq)",
    "operator_classes": "CREATE OPERATOR CLASS shop.int_ops FOR TYPE integer USING btree AS OPERATOR 1 <,"
                        " OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >,"
                        " FUNCTION 1 btint4cmp(integer, integer)",
    "operator_families": "CREATE OPERATOR FAMILY shop.int_family USING btree",
    "ts_configs": "CREATE TEXT SEARCH CONFIGURATION shop.simple_copy (COPY = pg_catalog.simple)",
    "ts_dictionaries": "CREATE TEXT SEARCH DICTIONARY shop.simple_dict (TEMPLATE = pg_catalog.simple)",
    "conversions": "CREATE CONVERSION shop.latin1_utf8 FOR 'LATIN1' TO 'UTF8' FROM iso8859_1_to_utf8",
    "foreign_tables": "CREATE FOREIGN DATA WRAPPER hand_fdw; CREATE SERVER hand_server FOREIGN DATA WRAPPER hand_fdw;"
                      " CREATE FOREIGN TABLE shop.remote (id integer) SERVER hand_server",
    "typed_tables": "CREATE TABLE shop.pairs OF shop.pair",
    "default_privileges": "ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO PUBLIC",
}
FIELD_DRIFT: dict[str, tuple[str, str]] = {
    "indexes.clustered": ("ALTER TABLE shop.items CLUSTER ON items_qty_idx", "clustered"),
    "columns.comment": ("COMMENT ON COLUMN shop.items.note IS 'by hand'", "column note differs"),
    "triggers.enabled": ("ALTER TABLE shop.items DISABLE TRIGGER items_touch", "trigger items_touch differs"),
    "constraints.clustered": ("ALTER TABLE shop.items CLUSTER ON items_pkey", "items_pkey"),
}
# What the lines of verify call each kind's difference (a new column is the table's "column extra").
CASES = [pytest.param(k.key, DRIFT.get(k.key, ""), k.label, id=k.key) for k in kinds.REGISTRY] + [
    pytest.param(key, change, seen, id=key) for key, (change, seen) in FIELD_DRIFT.items()]


def test_every_kind_has_a_drift_case() -> None:
    """Generated from the registry: a kind added without a hand-made change to try fails here."""
    assert set(DRIFT) == {k.key for k in kinds.REGISTRY}


@pytest.fixture(scope="module")
def synced_template(any_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    """A database auto-sync has just brought to DESIRED, its recorded state included, kept as a template."""
    name = any_server.create_db()
    sql_dir = write_schema(tmp_path_factory.mktemp("kinds"), {"shop.sql": DESIRED})
    done = initjob("run", DATABASE_URL=any_server.uri(name), INITJOB_SQL_DIR=str(sql_dir))
    assert done.code == 0, done.stderr
    assert initjob("run", DATABASE_URL=any_server.uri(name), INITJOB_SQL_DIR=str(sql_dir)).code == 0
    yield any_server, name, sql_dir
    any_server.drop_db(name)


@pytest.mark.both_majors
@pytest.mark.parametrize(("key", "change", "seen"), CASES)
def test_a_hand_made_change_of_every_kind_is_drift(synced_template: tuple[Server, str, Path], key: str,
                                                   change: str, seen: str) -> None:
    """verify exits 3 and names it, and run does not pass it as up to date: it refuses it (exit 3) or
    undoes it (applied > 0, and verify agrees afterwards)."""
    assert change, f"no hand-made change for the kind {key!r}: add one to DRIFT"
    server, template, sql_dir = synced_template
    name = f"{template}_{key.replace('.', '_')}"[:63]
    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    try:
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            conn.execute(change.encode())
        env = {"DATABASE_URL": server.uri(name), "INITJOB_SQL_DIR": str(sql_dir)}
        verify = initjob("verify", **env)
        assert verify.code == 3 and seen in verify.stderr, verify.stderr
        # Auto-sync's run either refuses the change (exit 3) or undoes it; never "nothing to do".
        run = initjob("run", **env)
        assert run.code == 3 or (run.code == 0 and run.event("run.finished")["applied"] > 0), run.stderr
        assert run.code == 3 or initjob("verify", **env).code == 0
    finally:
        server.drop_db(name)


@pytest.mark.parametrize(("live", "desired", "step"), [
    (False, True, "ALTER TABLE shop.items CLUSTER ON items_pkey"),
    (True, False, "ALTER TABLE shop.items SET WITHOUT CLUSTER"),
    (True, True, None),
])
def test_cluster_on_a_constraints_index_is_planned(live: bool, desired: bool, step: str | None) -> None:
    """CLUSTER ON the index behind a primary key is a field of the constraint, planned as the index's is."""
    def snapshot(clustered: bool) -> Snapshot:
        pkey = catalog.Constraint("items_pkey", "p", "PRIMARY KEY (id)", clustered=clustered)
        return Snapshot(tables=(catalog.Table("shop", "items", columns=(catalog.Column("id", "integer", True),),
                                              constraints=(pkey,)),))
    steps = [s.sql for s in plan_sync(snapshot(live), snapshot(desired)).steps]
    assert steps == ([step] if step else [])
