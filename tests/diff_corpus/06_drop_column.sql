-- A column removed.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, legacy text, name text);
CREATE INDEX t_legacy_idx ON app.t (legacy);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (id int PRIMARY KEY, name text);
