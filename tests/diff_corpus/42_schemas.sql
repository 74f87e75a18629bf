-- A schema added with objects in it; another, emptied, removed.
-- expect: destructive
-- from
CREATE SCHEMA app;
CREATE SCHEMA old;
CREATE TABLE old.t (id int);
-- to
CREATE SCHEMA app;
CREATE SCHEMA audit;
CREATE TABLE audit.log (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz DEFAULT now());
CREATE TABLE app.t (id int);
