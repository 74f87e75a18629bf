-- An extension added and used by an index and a column; another removed.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE EXTENSION hstore SCHEMA app;
CREATE TABLE app.t (id int, name text);
-- to
CREATE SCHEMA app;
CREATE EXTENSION pg_trgm SCHEMA app;
CREATE EXTENSION citext SCHEMA app;
CREATE TABLE app.t (id int, name text, email app.citext);
CREATE INDEX t_name_trgm ON app.t USING gist (name app.gist_trgm_ops);
