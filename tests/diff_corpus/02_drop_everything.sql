-- Drop a schema using every object kind.
-- expect: destructive
-- from
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the app';
CREATE EXTENSION IF NOT EXISTS citext SCHEMA app;
CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.email AS app.citext CHECK (VALUE ~ '@') ;
CREATE DOMAIN app.posint AS integer NOT NULL DEFAULT 1 CONSTRAINT posint_check CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a integer, b text COLLATE "C");
CREATE SEQUENCE app.ticket_seq START 100 INCREMENT 5 CACHE 10;
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email app.email NOT NULL UNIQUE,
  name text COLLATE "C" NOT NULL DEFAULT '',
  mood app.mood DEFAULT 'ok',
  score numeric(10,2) CHECK (score >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  upper_name text GENERATED ALWAYS AS (upper(name)) STORED
);
COMMENT ON TABLE app.users IS 'people';
COMMENT ON COLUMN app.users.email IS 'login';
CREATE TABLE app.tasks (
  id serial PRIMARY KEY,
  user_id bigint REFERENCES app.users(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  title text NOT NULL,
  during tstzrange,
  ticket integer DEFAULT nextval('app.ticket_seq'),
  CONSTRAINT title_len CHECK (length(title) < 200) NOT VALID,
  EXCLUDE USING gist (during WITH &&)
);
ALTER SEQUENCE app.ticket_seq OWNED BY app.tasks.ticket;
CREATE INDEX tasks_title_trgm ON app.tasks USING gin (title public.gin_trgm_ops);
CREATE INDEX tasks_lower_idx ON app.tasks (lower(title)) INCLUDE (id) WHERE user_id IS NOT NULL;
CREATE UNLOGGED TABLE app.cache (k text PRIMARY KEY, v jsonb) WITH (fillfactor = 70);
CREATE TABLE app.events (id bigint NOT NULL, at date NOT NULL, payload jsonb, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_default PARTITION OF app.events DEFAULT;
CREATE INDEX events_at_idx ON app.events (at);
CREATE VIEW app.active_users AS SELECT u.id, u.email, (SELECT count(*) FROM app.tasks t WHERE t.user_id = u.id) AS n FROM app.users u WHERE u.mood <> 'sad';
CREATE MATERIALIZED VIEW app.task_counts AS SELECT user_id, count(*) AS n FROM app.tasks GROUP BY user_id;
CREATE UNIQUE INDEX task_counts_user ON app.task_counts (user_id);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;
CREATE FUNCTION app.add(a integer, b integer DEFAULT 1) RETURNS integer LANGUAGE sql IMMUTABLE RETURN a + b;
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.tasks ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.tasks FORCE ROW LEVEL SECURITY;
CREATE POLICY own_tasks ON app.tasks FOR SELECT TO PUBLIC USING (user_id = 1);
CREATE POLICY ins ON app.tasks AS RESTRICTIVE FOR INSERT WITH CHECK (title <> '');
-- to
