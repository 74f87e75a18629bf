-- A serial column added: its sequence, default and OWNED BY.
-- expect: locking
-- from
CREATE SCHEMA app;
CREATE TABLE app.t (name text);
-- to
CREATE SCHEMA app;
CREATE TABLE app.t (name text, id serial);
-- data
INSERT INTO app.t VALUES ('a'), ('b');
