"""The catalog snapshot, read from real databases on every available PostgreSQL major."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from devtools.pgserver import PgServer, available_bindirs, running_server, server_major
from initjob.schema import catalog
from initjob.schema.catalog import Snapshot

BINDIRS = {server_major(b): b for b in available_bindirs()}
EVERYTHING = re.split(r"^-- to\s*$", (Path(__file__).parent / "diff_corpus" / "01_create_everything.sql")
                      .read_text(), flags=re.M)[1]

Conn = psycopg.Connection[tuple[object, ...]]
Connect = Callable[[str], Conn]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[int, PgServer]]:
    """Every available major at once, so that a test can compare them."""
    with contextlib.ExitStack() as stack:
        yield {major: stack.enter_context(running_server(b)) for major, b in sorted(BINDIRS.items())}


@pytest.fixture(params=sorted(BINDIRS), ids=lambda m: f"pg{m}")
def server(request: pytest.FixtureRequest, servers: dict[int, PgServer]) -> PgServer:
    return servers[request.param]


@contextlib.contextmanager
def create_database(server: PgServer, schema_sql: str, autocommit: bool = True) -> Iterator[Conn]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(sql.Identifier(name)))
    try:
        with psycopg.connect(server.url(name), autocommit=True) as conn:
            for part in re.split(r"^-- commit.*$", schema_sql, flags=re.M):
                if part.strip():
                    conn.execute(part.encode())
            conn.autocommit = autocommit
            yield conn
    finally:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def new_db(server: PgServer) -> Iterator[Connect]:
    with contextlib.ExitStack() as stack:
        yield lambda schema_sql: stack.enter_context(create_database(server, schema_sql))


def snap(conn: Conn, schemas: tuple[str, ...] = ("app", "public")) -> Snapshot:
    return catalog.read_snapshot(conn, schemas)


def table(s: Snapshot, name: str) -> catalog.Table:
    return next(t for t in s.tables if t.name == name)


# ---------------------------------------------------------------------------------------------
# What a snapshot holds


def test_every_object_kind_is_read(new_db: Connect) -> None:
    """Schemas, extensions, types, sequences, tables, views, functions and their parts all appear."""
    s = snap(new_db(EVERYTHING))
    assert [x.name for x in s.schemas] == ["app", "public"] and s.schemas[0].comment == "the app"
    assert {(e.name, e.schema) for e in s.extensions} == {("citext", "app"), ("pg_trgm", "public")}
    assert s.enums[0].labels == ("sad", "ok", "happy")
    assert {d.name for d in s.domains} == {"email", "posint"}
    posint = next(d for d in s.domains if d.name == "posint")
    assert (posint.type, posint.not_null, posint.default) == ("integer", True, "1")
    assert [c.name for c in posint.constraints] == ["posint_check"]
    assert [(a.name, a.collation) for a in s.composites[0].attributes] == [("a", None), ("b", '"C"')]
    assert {q.name: q.owned_by for q in s.sequences} == {"tasks_id_seq": "app.tasks.id",
                                                          "ticket_seq": "app.tasks.ticket"}
    assert {v.name: v.materialized for v in s.views} == {"active_users": False, "task_counts": True}
    assert {(f.name, f.kind) for f in s.functions} == {("add", "function"), ("noop", "procedure"),
                                                      ("touch", "function")}


def test_columns_carry_type_nullability_default_identity_generation_collation(new_db: Connect) -> None:
    """Column details come from format_type and pg_get_expr, qualified the same way in every database."""
    users = table(snap(new_db(EVERYTHING)), "users")
    cols = {c.name: c for c in users.columns}
    assert [c.name for c in users.columns] == ["id", "email", "name", "mood", "score", "created_at", "upper_name"]
    assert (cols["id"].identity, cols["id"].not_null) == ("ALWAYS", True)
    assert (cols["email"].type, cols["email"].comment) == ("app.email", "login")
    assert (cols["name"].collation, cols["name"].default) == ('"C"', "''::text")
    assert cols["mood"].default == "'ok'::app.mood"
    assert cols["score"].type == "numeric(10,2)"
    assert (cols["upper_name"].generated, cols["upper_name"].generated_kind) == ("upper(name)", "STORED")
    assert users.comment == "people"
    assert [t.name for t in users.triggers] == ["users_touch"]


def test_constraints_and_indexes(new_db: Connect) -> None:
    """NOT NULL is a column property on every major; indexes backing constraints are not listed twice."""
    tasks = table(snap(new_db(EVERYTHING)), "tasks")
    assert {c.name: c.kind for c in tasks.constraints} == {
        "tasks_during_excl": "x", "tasks_pkey": "p", "tasks_user_id_fkey": "f", "title_len": "c"}
    fk = next(c for c in tasks.constraints if c.kind == "f")
    assert fk.definition == ("FOREIGN KEY (user_id) REFERENCES app.users(id) ON DELETE CASCADE "
                             "DEFERRABLE INITIALLY DEFERRED")
    assert [i.name for i in tasks.indexes] == ["tasks_lower_idx", "tasks_title_trgm"]
    assert "INCLUDE (id) WHERE (user_id IS NOT NULL)" in tasks.indexes[0].definition
    assert (tasks.rls, tasks.rls_forced) == (True, True)
    assert {(p.name, p.command, p.permissive) for p in tasks.policies} == {("ins", "INSERT", False),
                                                                          ("own_tasks", "SELECT", True)}


def test_not_valid_constraints_say_so(new_db: Connect) -> None:
    """A constraint added NOT VALID is recorded as such, and differs from a validated one."""
    conn = new_db("CREATE TABLE public.t (x int); ALTER TABLE public.t ADD CONSTRAINT c CHECK (x > 0) NOT VALID")
    con = table(snap(conn, ("public",)), "t").constraints[0]
    assert (con.validated, con.definition) == (False, "CHECK ((x > 0)) NOT VALID")


def test_partitions_list_only_what_is_their_own(new_db: Connect) -> None:
    """A partition's inherited key and cloned triggers belong to its parent; its indexes attached to
    the parent's (one of them behind its copy of the key) are its own, under the names it has, each
    with the index it is attached to."""
    s = snap(new_db(EVERYTHING + """
        CREATE TRIGGER ev_touch BEFORE INSERT ON app.events FOR EACH ROW EXECUTE FUNCTION app.touch();"""))
    parent, part = table(s, "events"), table(s, "events_2024")
    assert parent.partition_key == "RANGE (at)" and [t.name for t in parent.triggers] == ["ev_touch"]
    assert (part.parent, part.bound) == ("app.events", "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    assert (part.constraints, part.triggers) == ((), ())
    assert [(i.name, i.parent_index) for i in part.indexes] == [
        ("events_2024_at_idx", "app.events_at_idx"), ("events_2024_pkey", "app.events_pkey")]
    assert table(s, "events_default").bound == "DEFAULT"
    assert table(s, "cache").unlogged and table(s, "cache").options == ("fillfactor=70",)


def test_extension_members_are_left_out(new_db: Connect) -> None:
    """citext installed into app brings functions and types that are the extension's, not ours."""
    s = snap(new_db("CREATE SCHEMA app; CREATE EXTENSION citext SCHEMA app"))
    assert (s.functions, s.domains, s.composites) == ((), (), ())
    assert [e.name for e in s.extensions] == ["citext"]


def test_invalid_index_is_marked(new_db: Connect) -> None:
    """An index left invalid by a failed CREATE INDEX CONCURRENTLY must show, so it gets rebuilt."""
    conn = new_db("CREATE TABLE public.t (x int); CREATE INDEX t_x ON public.t (x);"
                  "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.t_x'::regclass")
    assert not table(snap(conn, ("public",)), "t").indexes[0].valid


# ---------------------------------------------------------------------------------------------
# Equality: creation order never shows, column order does


REORDERED = """
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the app';
CREATE EXTENSION pg_trgm SCHEMA public;
CREATE EXTENSION citext SCHEMA app;
CREATE TYPE app.mood AS ENUM ('ok');
ALTER TYPE app.mood ADD VALUE 'sad' BEFORE 'ok';
ALTER TYPE app.mood ADD VALUE 'happy';
-- commit (a new enum label is usable once committed)
CREATE TYPE app.pair AS (a integer, b text COLLATE "C");
CREATE DOMAIN app.posint AS integer NOT NULL DEFAULT 1 CONSTRAINT posint_check CHECK (VALUE > 0);
CREATE DOMAIN app.email AS app.citext CHECK (VALUE ~ '@');
CREATE FUNCTION app.noop() RETURNS void LANGUAGE sql AS $$ SELECT 1 $$;
DROP FUNCTION app.noop();
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION app.add(a integer, b integer DEFAULT 1) RETURNS integer LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE UNLOGGED TABLE app.cache (k text, v jsonb, junk int) WITH (fillfactor = 70);
ALTER TABLE app.cache DROP COLUMN junk;
ALTER TABLE app.cache ADD PRIMARY KEY (k);
CREATE TABLE app.events (id bigint NOT NULL, at date NOT NULL, payload jsonb) PARTITION BY RANGE (at);
CREATE INDEX events_at_idx ON app.events (at);
CREATE TABLE app.events_default PARTITION OF app.events DEFAULT;
CREATE TABLE app.events_2024 (id bigint NOT NULL, at date NOT NULL, payload jsonb);
ALTER TABLE app.events ATTACH PARTITION app.events_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE app.events ADD PRIMARY KEY (id, at);
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY,
  email app.email NOT NULL,
  dropped_later text,
  name text COLLATE "C" NOT NULL DEFAULT '',
  mood app.mood DEFAULT 'ok',
  score numeric(10,2),
  created_at timestamptz NOT NULL DEFAULT now(),
  upper_name text GENERATED ALWAYS AS (upper(name)) STORED
);
ALTER TABLE app.users DROP COLUMN dropped_later;
ALTER TABLE app.users ADD CONSTRAINT users_score_check CHECK (score >= 0);
ALTER TABLE app.users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
ALTER TABLE app.users ADD CONSTRAINT users_email_key UNIQUE (email);
COMMENT ON COLUMN app.users.email IS 'login';
COMMENT ON TABLE app.users IS 'people';
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE SEQUENCE app.ticket_seq START 100 INCREMENT 5 CACHE 10;
CREATE TABLE app.tasks (
  id serial,
  user_id bigint,
  title text NOT NULL,
  during tstzrange,
  ticket integer DEFAULT nextval('app.ticket_seq')
);
ALTER SEQUENCE app.ticket_seq OWNED BY app.tasks.ticket;
CREATE INDEX tasks_lower_idx ON app.tasks (lower(title)) INCLUDE (id) WHERE user_id IS NOT NULL;
CREATE INDEX tasks_title_trgm ON app.tasks USING gin (title public.gin_trgm_ops);
ALTER TABLE app.tasks ADD CONSTRAINT tasks_during_excl EXCLUDE USING gist (during WITH &&);
ALTER TABLE app.tasks ADD CONSTRAINT title_len CHECK (length(title) < 200);
ALTER TABLE app.tasks ADD CONSTRAINT tasks_user_id_fkey FOREIGN KEY (user_id) REFERENCES app.users(id)
  ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE app.tasks ADD PRIMARY KEY (id);
CREATE POLICY ins ON app.tasks AS RESTRICTIVE FOR INSERT WITH CHECK (title <> '');
CREATE POLICY own_tasks ON app.tasks FOR SELECT TO PUBLIC USING (user_id = 1);
ALTER TABLE app.tasks FORCE ROW LEVEL SECURITY;
ALTER TABLE app.tasks ENABLE ROW LEVEL SECURITY;
CREATE MATERIALIZED VIEW app.task_counts AS SELECT user_id, count(*) AS n FROM app.tasks GROUP BY user_id;
CREATE UNIQUE INDEX task_counts_user ON app.task_counts (user_id);
CREATE VIEW app.active_users AS SELECT u.id, u.email, (SELECT count(*) FROM app.tasks t WHERE t.user_id = u.id) AS n
  FROM app.users u WHERE u.mood <> 'sad';
"""


def test_creation_order_does_not_change_the_fingerprint(new_db: Connect) -> None:
    """Same schema, built in another order with dropped columns and attached partitions: same snapshot."""
    a, b = snap(new_db(EVERYTHING)), snap(new_db(REORDERED))
    assert catalog.describe_differences(a, b) == []
    assert a == b and catalog.fingerprint(a) == catalog.fingerprint(b)


def test_column_order_changes_the_fingerprint(new_db: Connect) -> None:
    """Columns in another order are another table (SELECT *, COPY and INSERT without a list see it)."""
    a = snap(new_db("CREATE TABLE public.t (a int, b int)"), ("public",))
    b = snap(new_db("CREATE TABLE public.t (b int, a int)"), ("public",))
    assert a != b and catalog.fingerprint(a) != catalog.fingerprint(b)
    assert catalog.ignore_column_order(a) == catalog.ignore_column_order(b)
    assert catalog.describe_differences(a, b) == ["table public.t: columns are in a different order"]


def test_snapshots_agree_across_majors_except_for_view_text(servers: dict[int, PgServer]) -> None:
    """The model is the same on every major; only pg_get_viewdef's own wording differs (16+ drops prefixes)
    and 18 names NOT NULL constraints."""
    if len(servers) < 2:
        pytest.skip("needs two PostgreSQL majors")
    found = []
    for server in servers.values():
        with create_database(server, EVERYTHING) as conn:
            found.append(snap(conn))
    first, *rest = (dataclasses.replace(_unnamed_not_nulls(s), views=()) for s in found)
    assert all(r == first for r in rest)
    assert all(len(s.views) == 2 for s in found)


def _unnamed_not_nulls(s: Snapshot) -> Snapshot:
    tables = tuple(dataclasses.replace(t, columns=tuple(dataclasses.replace(c, not_null_name=None) for c in t.columns))
                   for t in s.tables)
    return dataclasses.replace(s, tables=tables)


# ---------------------------------------------------------------------------------------------
# Reading: read-only, transaction-neutral, few round trips


def test_read_leaves_no_transaction_and_no_setting_behind(server: PgServer) -> None:
    """In autocommit, idle afterwards; inside a caller's transaction, still in it with search_path and jit
    (which the read turns off) as the caller set them."""
    with create_database(server, EVERYTHING) as conn:
        first = snap(conn)
        assert conn.info.transaction_status.name == "IDLE"
    with create_database(server, EVERYTHING, autocommit=False) as conn:
        assert snap(conn) == first
        assert conn.info.transaction_status.name == "IDLE"
        conn.execute("SET LOCAL search_path = app, public")
        conn.execute("SET LOCAL jit = on")
        assert snap(conn) == first
        assert conn.info.transaction_status.name == "INTRANS"
        assert conn.execute("SHOW search_path").fetchone() == ("app, public",)
        assert conn.execute("SHOW jit").fetchone() == ("on",)
        conn.rollback()


def test_a_failed_read_leaves_the_connection_usable(server: PgServer) -> None:
    """An error mid-pipeline rolls back what the read opened and nothing the caller opened."""
    for autocommit, in_transaction in [(True, False), (False, False), (False, True)]:
        with create_database(server, "", autocommit=autocommit) as conn:
            if in_transaction:
                conn.execute("CREATE TABLE public.kept (x int)")
            with pytest.raises(psycopg.errors.UndefinedFunction):
                catalog.read_snapshot(conn, [1])  # type: ignore[list-item]  # name = integer: no operator
            expected = "INTRANS" if in_transaction else "IDLE"
            assert conn.info.transaction_status.name == expected
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'kept'").fetchone() == (
                int(in_transaction),)
            conn.rollback()


def test_read_sends_all_queries_in_one_round_trip(new_db: Connect, tmp_path: Path) -> None:
    """One query per kind of object, all sent before the one Sync: the figures bench_snapshot.py prints."""
    conn = new_db(EVERYTHING)
    with (tmp_path / "trace").open("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        snap(conn)
        conn.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t")[2].split()[0] for line in trace if line.startswith("F\t")]
    assert sent.count("Parse") == len(catalog.QUERIES) + 3  # + BEGIN, set_config, ROLLBACK
    assert sent.count("Sync") == 1


DDL_SEEN_BY_THE_TOKEN = [
    "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'app.tasks_lower_idx'::regclass",
    "ALTER TABLE app.users ADD COLUMN locale text",
    "ALTER TABLE app.users ALTER COLUMN score TYPE numeric(12,2)",
    "ALTER TABLE app.users ALTER COLUMN name SET DEFAULT 'x'",
    "ALTER TABLE app.users ALTER COLUMN score SET NOT NULL",
    "COMMENT ON COLUMN app.users.name IS 'n'",
    "CREATE INDEX users_name ON app.users (name)",
    "DROP INDEX app.tasks_lower_idx",
    "ALTER TABLE app.tasks DROP CONSTRAINT title_len",
    "ALTER TABLE app.users DISABLE TRIGGER users_touch",
    "CREATE POLICY p ON app.users USING (true)",
    "CREATE OR REPLACE VIEW app.active_users AS SELECT u.id, u.email, 0::bigint AS n FROM app.users u",
    "ALTER TYPE app.mood ADD VALUE 'meh'",
    "CREATE OR REPLACE FUNCTION app.add(a integer, b integer DEFAULT 1) RETURNS integer LANGUAGE sql RETURN a - b",
    "ALTER SEQUENCE app.ticket_seq INCREMENT 7",
    "ALTER SEQUENCE app.ticket_seq OWNED BY NONE",
    "ALTER TABLE app.events DETACH PARTITION app.events_default",
    "CREATE EXTENSION hstore SCHEMA public",
]


def test_catalog_token_changes_with_ddl(new_db: Connect) -> None:
    """Whatever DDL changes the snapshot changes the token too (one statement after another)."""
    conn = new_db(EVERYTHING)
    for ddl in DDL_SEEN_BY_THE_TOKEN:
        before, snapshot = catalog.catalog_token(conn, ["app", "public"]), snap(conn)
        conn.execute(ddl.encode())
        assert snap(conn) != snapshot, f"{ddl} should change the snapshot"
        assert catalog.catalog_token(conn, ["app", "public"]) != before, ddl


def test_catalog_token_ignores_data_and_maintenance(new_db: Connect) -> None:
    """Rows, statistics, vacuum and sequence values are not schema: the token stays."""
    conn = new_db(EVERYTHING)
    before = catalog.catalog_token(conn, ["app", "public"])
    conn.execute("INSERT INTO app.users (email) VALUES ('a@b'); UPDATE app.users SET score = 1;"
                 "DELETE FROM app.users; SELECT nextval('app.ticket_seq')")
    conn.execute("VACUUM ANALYZE app.users")
    conn.execute("ANALYZE")
    assert catalog.catalog_token(conn, ["app", "public"]) == before


def test_user_schemas_skips_system_excluded_and_extension_schemas(new_db: Connect) -> None:
    """Only the schemas an application made are candidates for management."""
    conn = new_db("CREATE SCHEMA app; CREATE SCHEMA initjob; CREATE SCHEMA ext_owned;"
                  "CREATE EXTENSION citext SCHEMA app; ALTER EXTENSION citext ADD SCHEMA ext_owned;"
                  "CREATE TEMP TABLE scratch (x int)")
    assert catalog.user_schemas(conn, ["initjob"]) == ["app", "public"]


def test_missing_schemas_are_simply_absent(new_db: Connect) -> None:
    """Asking for a schema that does not exist is not an error: the snapshot says it is missing."""
    assert snap(new_db(""), ("nowhere",)) == Snapshot()


# ---------------------------------------------------------------------------------------------
# Serialisation and comparison (pure)


def test_json_round_trips_exactly(new_db: Connect) -> None:
    """What is stored in the history table reads back equal, with the same fingerprint."""
    s = snap(new_db(EVERYTHING))
    text = catalog.snapshot_to_json(s)
    assert catalog.snapshot_from_json(text) == s
    assert catalog.snapshot_to_json(catalog.snapshot_from_json(text)) == text
    assert catalog.fingerprint(s) == catalog.fingerprint(catalog.snapshot_from_json(text))


def test_json_of_another_format_is_refused() -> None:
    """A snapshot stored by a future or past model is not silently misread."""
    with pytest.raises(ValueError, match="take a new snapshot"):
        catalog.snapshot_from_json('{"format": 0, "snapshot": {}}')


def test_fingerprint_is_sha256_hex() -> None:
    """A stable, printable digest."""
    assert re.fullmatch(r"[0-9a-f]{64}", catalog.fingerprint(Snapshot()))


def test_describe_differences_names_the_parts() -> None:
    """Lines say which table and which column, index or constraint is missing, unexpected or different."""
    col = catalog.Column("id", "integer")
    old = Snapshot(tables=(catalog.Table("app", "users", columns=(col,)),
                           catalog.Table("app", "gone")))
    new = Snapshot(
        tables=(catalog.Table("app", "users", columns=(col, catalog.Column("locale", "text")),
                              indexes=(catalog.Index("users_idx", "CREATE INDEX ..."),)),),
        views=(catalog.View("app", "v", "SELECT 1"),),
    )
    assert catalog.describe_differences(old, new) == [
        "table app.gone unexpected",
        "table app.users: column locale missing",
        "table app.users: index users_idx missing",
        "view app.v missing",
    ]
    limited = catalog.describe_differences(old, new, limit=2)
    assert limited == ["table app.gone unexpected", "... and 3 more differences"]


def test_quote_ident_matches_postgres(new_db: Connect) -> None:
    """Our quoting agrees with the server's quote_ident on awkward names."""
    conn = new_db("")
    names = ["users", "User", "select", "a b", 'we"ird', "_x1", "1abc", "int", "between", "é"]
    theirs = [r[0] for r in conn.execute("SELECT quote_ident(n) FROM unnest(%s::text[]) n", [names]).fetchall()]
    assert [catalog.quote_ident(n) for n in names] == theirs


def test_fingerprint_and_json_in_one_walk_equal_the_two_apart(server: PgServer) -> None:
    """The recorded state's fingerprint and JSON from one walk (issue 20 item 7) are exactly the two
    made apart, with named NOT NULL constraints (18) and dependencies too, which the fingerprint leaves out."""
    with create_database(server, EVERYTHING) as conn:
        read = snap(conn)
    named = dataclasses.replace(read, tables=tuple(
        dataclasses.replace(t, columns=tuple(dataclasses.replace(c, not_null_name=f"{c.name}_nn") if c.not_null
                                             else c for c in t.columns)) for t in read.tables))
    assert any(c.not_null_name for t in named.tables for c in t.columns) and read.depends
    for s in (read, named, _unnamed_not_nulls(named)):
        assert catalog.fingerprint_and_json(s) == (catalog.fingerprint(s), catalog.snapshot_to_json(s))
    assert catalog.fingerprint_and_json(named)[0] == catalog.fingerprint_and_json(_unnamed_not_nulls(named))[0]
