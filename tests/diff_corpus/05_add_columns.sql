-- Columns added at the end: nullable, with a constant default, NOT NULL with a default, volatile default.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, name text);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, name text, note text, flag boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(), r double precision DEFAULT random(), tags text[] DEFAULT '{}');
-- data
INSERT INTO app.t SELECT g, 'n' || g FROM generate_series(1, 50) g;
